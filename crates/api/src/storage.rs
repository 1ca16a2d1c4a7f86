//! Where uploaded files live. A small trait, so a shared or object store can replace the
//! local directory without touching the handlers.

use futures_util::future::BoxFuture;
use std::io;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};

pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;

pub trait DocumentStore: Send + Sync {
    /// Starts a new file under a fresh key that no client chose.
    fn create(&self) -> BoxFuture<'_, io::Result<(String, Writer)>>;
    fn open<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Reader>>;
    /// Removes a file for good; a missing file is not an error.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>>;
}

/// Files in one local directory, named by random keys.
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        // Keys are ours: 32 hexadecimal digits. Anything else never reaches the file system.
        if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(self.dir.join(key))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a document key",
            ))
        }
    }
}

fn new_key() -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    format!("{n:032x}")
}

impl DocumentStore for LocalStore {
    fn create(&self) -> BoxFuture<'_, io::Result<(String, Writer)>> {
        Box::pin(async move {
            let key = new_key();
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.path(&key)?)
                .await?;
            Ok((key, Box::new(tokio::io::BufWriter::new(file)) as Writer))
        })
    }

    fn open<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<Reader>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(self.path(key)?).await?;
            Ok(Box::new(file) as Reader)
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }
}

/// A client's file name made safe to keep and show: no directories, no control characters,
/// at most 255 characters.
pub fn clean_filename(name: Option<&str>) -> String {
    let base = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect::<String>();
    let base = base.trim().trim_start_matches('.').trim();
    if base.is_empty() {
        "document".to_owned()
    } else {
        base.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn client_names_lose_their_directories() {
        assert_eq!(clean_filename(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_filename(Some("C:\\Users\\x\\quote.pdf")), "quote.pdf");
        assert_eq!(clean_filename(Some("..")), "document");
        assert_eq!(clean_filename(Some("a\u{0}b.txt")), "ab.txt");
        assert_eq!(clean_filename(None), "document");
    }

    #[tokio::test]
    async fn files_round_trip_and_keys_are_checked() {
        let dir = std::env::temp_dir().join(format!("crm-store-{}", new_key()));
        let store = LocalStore::new(dir.clone()).unwrap();
        let (key, mut w) = store.create().await.unwrap();
        w.write_all(b"hello").await.unwrap();
        w.shutdown().await.unwrap();
        let mut text = String::new();
        store
            .open(&key)
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "hello");
        assert!(store.open("../../etc/passwd").await.is_err());
        store.remove(&key).await.unwrap();
        store.remove(&key).await.unwrap();
        assert!(store.open(&key).await.is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
