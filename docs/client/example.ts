// A worked example of a typed Hookline client: create an outbound webhook, publish an event,
// and read its delivery. The types come from the API's own OpenAPI document
// (`npm run generate`), so a field the API does not have, or a body of the wrong shape, is a
// compile error here rather than a 400 at run time.
//
//   HOOKLINE_API_URL       the API's base URL (deployed: the stack's ApiUrl, no trailing slash)
//   HOOKLINE_API_KEY       an API key that may write
//   HOOKLINE_RECEIVER_URL  where the webhook should send events (your receiver)

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/hookline.js";

type Delivery = components["schemas"]["DeliveryOut"];
type ApiError = components["schemas"]["ErrorBody"] | components["schemas"]["GatewayMessage"];

/// An error answer, ours (`type` is stable, `field` names the offending field) or API
/// Gateway's own (throttling, a function that did not answer).
function describe(what: string, e: ApiError): Error {
  return "error" in e
    ? new Error(`${what}: ${e.error.type} ${e.error.field ?? ""}: ${e.error.message}`)
    : new Error(`${what}: ${e.message}`);
}

const baseUrl = process.env.HOOKLINE_API_URL ?? "http://127.0.0.1:9000/lambda-url/webhooks-api";
const key = process.env.HOOKLINE_API_KEY;
const receiver = process.env.HOOKLINE_RECEIVER_URL;
if (!key || !receiver) {
  throw new Error("set HOOKLINE_API_KEY and HOOKLINE_RECEIVER_URL");
}

const hookline = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${key}` },
  // Every call has a deadline.
  fetch: (request) => fetch(request, { signal: AbortSignal.timeout(10_000) }),
});

// 1. An outbound webhook for case:new events. The answer shows its signing secret, once.
const created = await hookline.POST("/api/v1/webhook", {
  body: {
    name: "CRM sync",
    flow: "outbound",
    url: receiver,
    notificationEmail: "ops@example.com",
    events: ["case:new"],
  },
});
if (created.error) {
  throw describe("create", created.error);
}
const webhook = created.data;
if (webhook.flow !== "outbound" || webhook.security.type !== "hmac") {
  throw new Error("expected an outbound webhook signed with HMAC");
}
// Keep `webhook.security.secret` where your receiver can read it: it verifies the signatures.
console.error(`created ${webhook.id}, signed with HMAC`);

// 2. A case:new event. `data` is typed by the event's schema (GET /api/v1/event-types).
const published = await hookline.POST("/api/v1/events", {
  body: { event: "case:new", data: { caseId: "72", status: "pending" } },
});
if (published.error) {
  throw describe("publish", published.error);
}
const eventId = published.data.id;

// 3. Its delivery to the webhook: listed once the fan-out has recorded it, then read whole.
async function deliveryOf(webhookId: string, event: string): Promise<Delivery | undefined> {
  const page = await hookline.GET("/api/v1/webhook/{id}/deliveries", {
    params: { path: { id: webhookId }, query: { limit: 20 } },
  });
  if (page.error) {
    throw describe("deliveries", page.error);
  }
  return page.data.data.find((d) => d.event.id === event);
}

const deadline = Date.now() + 30_000;
let listed = await deliveryOf(webhook.id, eventId);
while (listed?.status !== "succeeded" && listed?.status !== "failed" && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 250));
  listed = await deliveryOf(webhook.id, eventId);
}
if (!listed) {
  throw new Error(`no delivery of ${eventId} within 30 s`);
}
const read = await hookline.GET("/api/v1/webhook/{id}/deliveries/{deliveryId}", {
  params: { path: { id: webhook.id, deliveryId: listed.id } },
});
if (read.error) {
  throw describe("delivery", read.error);
}
const delivery = read.data;
const last = delivery.attempts[delivery.attempts.length - 1];
console.log(
  JSON.stringify({
    webhook: webhook.id,
    event: eventId,
    delivery: delivery.id,
    status: delivery.status,
    attempts: delivery.attemptCount,
    receiverStatus: last?.status ?? null,
  }),
);
