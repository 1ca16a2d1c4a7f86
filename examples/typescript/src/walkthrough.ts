// The Blanca walkthrough (help page 001) through the typed client:
// log in, create a customer and a task, Next with "continue", then read the timeline.
//
//   CRM_URL=http://127.0.0.1:8080 CRM_EMAIL=admin@example.com CRM_PASSWORD=... npm run walkthrough
import createClient from "openapi-fetch";
import type { paths, components } from "./schema.js";

type Task = components["schemas"]["Task"];

const baseUrl = process.env.CRM_URL ?? "http://127.0.0.1:8080";
const client = createClient<paths>({ baseUrl });

function fail(what: string, error: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(error)}`);
}

async function main(): Promise<void> {
  const login = await client.POST("/api/v1/auth/login", {
    body: { email: process.env.CRM_EMAIL ?? "admin@example.com", password: process.env.CRM_PASSWORD ?? "" },
  });
  if (!login.data) fail("login", login.error);
  const auth = { headers: { Authorization: `Bearer ${login.data.access_token}` } };

  const type = await client.POST("/api/v1/task-types", {
    ...auth,
    body: { name: `ProShop sales ${Date.now()}`, color: "#f57c00" },
  });
  if (!type.data) fail("task type", type.error);

  const blanca = await client.POST("/api/v1/customers", { ...auth, body: { name: "Blanca (typed client)" } });
  if (!blanca.data) fail("customer", blanca.error);

  const today = new Date().toISOString().slice(0, 10);
  const workout = await client.POST("/api/v1/tasks", {
    ...auth,
    body: {
      customer_id: blanca.data.id,
      description: "Discuss and review the workout",
      type_id: type.data.id,
      scheduled_date: today,
      scheduled_time: "18:00",
    },
  });
  if (!workout.data) fail("task", workout.error);

  const outcomes = await client.GET("/api/v1/outcomes", auth);
  const positive = outcomes.data?.items.find((o) => o.name === "Positive");
  if (!positive) fail("outcomes", outcomes.error);

  const next = await client.POST("/api/v1/tasks/{id}/next", {
    ...auth,
    params: { path: { id: workout.data.id } },
    body: {
      outcome_id: positive.id,
      action: "continue",
      follow_up: { description: "Tell her about the new supplements", type_id: type.data.id, scheduled_date: today },
    },
  });
  if (!next.data) fail("next", next.error);
  const followUp: Task | null | undefined = next.data.created;
  console.log(`closed #${next.data.task.id} as ${next.data.task.outcome?.name}; follow-up #${followUp?.id}`);

  const timeline = await client.GET("/api/v1/customers/{id}/timeline", {
    ...auth,
    params: { path: { id: blanca.data.id }, query: { kind: "task_closed" } },
  });
  for (const entry of timeline.data?.items ?? []) {
    console.log(`${entry.occurred_at} ${entry.kind}: ${entry.summary}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
