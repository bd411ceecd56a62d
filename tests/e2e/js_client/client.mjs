// A client of the salesops bus contract written in another language, knowing only the contract
// (docs/asyncapi/*.json and docs/integration.md): plain NATS and JSON. It onboards a dealer, places an
// order, makes a hold and logs a complaint over request/reply as the `client` user, then sends every other
// command and query of every document once (the smallest body its schema accepts, sample.mjs), then reads
// every event of the event streams as the read-only `integration` user. Every request it sends, every reply it
// gets and every event it reads is validated against the published schemas (ajv, strict: a keyword JSON
// Schema does not define fails the run). Prints one JSON object with what it saw; exits 1 on a mismatch.
// Each request carries its sender's token (header "Authorization: Bearer <token>"), handed over in
// SALESOPS_TOKENS as {"<user id>": "<token>"} by whoever issued them (docs/integration.md); a query, which
// names no actor, is sent as js-reader.
import { readFileSync } from "node:fs";
import { connect, headers, JSONCodec } from "nats";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { sampler } from "./sample.mjs";

const ns = process.env.SALESOPS_NAMESPACE || "salesops";
const servers = (process.env.SALESOPS_NATS_URL || "nats://127.0.0.1:4222").split(",");
const DOCS = new URL("../../../docs/asyncapi/", import.meta.url);
// Every published document: the services, and the department feeds (O10), which publish no events.
const SERVICES = ["customers", "orders", "complaints", "field", "reporting", "marketing", "finance", "production"];
const STREAMS = ["customers", "orders", "complaints", "field"];
const jc = JSONCodec();

// The published documents, their schemas registered under urn:<service>:<name>.
const ajv = new Ajv({ strict: true, allErrors: true });
addFormats(ajv);
const documents = {};
for (const service of SERVICES) {
  const document = JSON.parse(readFileSync(new URL(`${service}.json`, DOCS)));
  documents[service] = document;
  const retarget = (node) => {
    if (Array.isArray(node)) return node.map(retarget);
    if (node && typeof node === "object") {
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [
        key,
        key === "$ref" ? value.replace("#/components/schemas/", `urn:${service}:`) : retarget(value),
      ]));
    }
    return node;
  };
  for (const [name, schema] of Object.entries(document.components.schemas)) {
    ajv.addSchema({ ...retarget(schema), $id: `urn:${service}:${name}` });
  }
}

function resolve(document, ref) {
  return ref.slice(2).split("/").map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((node, part) => node[part], document);
}

function payloadSchema(service, message) {  // a message (or a $ref to one) → its payload's schema id
  const document = documents[service];
  let found = message;
  while (found.$ref) found = resolve(document, found.$ref);
  return found.payload.$ref.replace("#/components/schemas/", `urn:${service}:`);
}

const checked = { requests: 0, replies: 0, events: 0 };
const mismatches = [];
const operationsUsed = new Set();

function check(schemaId, value, what) {
  const validate = ajv.getSchema(schemaId);
  if (!validate) {
    mismatches.push({ what, error: `no schema ${schemaId}` });
  } else if (!validate(value)) {
    mismatches.push({ what, errors: validate.errors, value });
  }
}

function operation(service, kind, name) {  // the documents use the default namespace
  const key = `salesops.${service}.${kind}.${name}`;
  const found = documents[service].operations[key];
  if (!found) throw new Error(`the contract has no ${key}`);
  return found;
}

function connection(user, password) {
  return connect(user ? { servers, user, pass: password } : { servers });
}

const nc = await connection(process.env.SALESOPS_CLIENT_USER, process.env.SALESOPS_CLIENT_PASSWORD);
const reader = process.env.SALESOPS_INTEGRATION_USER
  ? await connection(process.env.SALESOPS_INTEGRATION_USER, process.env.SALESOPS_INTEGRATION_PASSWORD)
  : nc;

const tokens = JSON.parse(process.env.SALESOPS_TOKENS || "{}");

async function send(service, kind, name, body, options = {}) {
  const h = options.headers || headers();
  const token = "token" in options ? options.token : tokens[body.actor?.id ?? "js-reader"];
  if (token) h.set("Authorization", `Bearer ${token}`);
  const op = operation(service, kind, name);
  operationsUsed.add(`${service}.${kind}.${name}`);
  if (options.wellFormed !== false) {
    check(payloadSchema(service, op.messages[0]), body, `request ${service}.${kind}.${name}`);
    checked.requests += 1;
  }
  const reply = await nc.request(`${ns}.${service}.${kind}.${name}`, jc.encode(body), {
    timeout: 10000,
    headers: h,
  });
  const answer = jc.decode(reply.data);
  check(payloadSchema(service, op.reply.messages[0]), answer, `reply of ${service}.${kind}.${name}`);
  checked.replies += 1;
  return answer;
}

function must(answer) {
  if (!answer.ok) throw new Error(JSON.stringify(answer.error));
  return answer.result;
}

const salesperson = { id: "js-sales", role: "salesperson" };
const supervisor = { id: "js-supervisor", role: "sales_supervisor" };
const gm = { id: "js-gm", role: "general_manager" };
const run = Date.now().toString(36).toUpperCase();

// Onboard a dealer (C2–C4, C6).
const prospect = must(await send("customers", "cmd", "register_prospect", {
  actor: salesperson, kind: "dealer", region: "SOUTH", salesperson_id: "js-sales",
  company_name: "Guangzhou JS Trading", founding_date: "2016-08-08", legal_representative: "Chen Jing",
  registered_capital: "800000.00", address: "Tianhe Road 1, Guangzhou", phone: "020-12345678",
  business_scale: "small", staff_count: 12, annual_sales: "4200000.00", main_products: ["valves"],
  preferred_payment_terms: "30 days", bank: "China Merchants Bank",
}));
const customerId = prospect.customer_id;
must(await send("customers", "cmd", "investigate_credit", {
  actor: { id: "js-finance", role: "finance" }, customer_id: customerId, rating: "good", credit_limit: "300000.00",
}));
const approval = { actor: supervisor, customer_id: customerId, idempotency_key: `js-approve-${customerId}` };
const approved = must(await send("customers", "cmd", "approve_customer", approval));
const again = must(await send("customers", "cmd", "approve_customer", approval));
const malformed = await send("customers", "cmd", "approve_customer", { actor: salesperson }, { wellFormed: false });
const reused = await send("customers", "cmd", "approve_customer", { ...approval, actor: { ...supervisor, id: "other" } });
// A role written into the body proves nothing: the salesperson's token claiming general_manager is
// refused, and so is a command without a token.
const unproven = await send("customers", "cmd", "approve_customer", { actor: { ...salesperson, role: "general_manager" }, customer_id: customerId });
const anonymous = await send("customers", "cmd", "approve_customer", { actor: gm, customer_id: customerId }, { token: null });
must(await send("customers", "cmd", "sign_contract", {
  actor: { id: "js-regional", role: "regional_manager" }, customer_id: customerId,
  contract_number: `HT-JS-${run}`, valid_from: "2020-01-01", valid_to: "2099-12-31",
}));
must(await send("customers", "query", "get_customer", { customer_id: customerId }));

// A product, an order and a hold (O1, O2, O8, O9); the orders service learns of the dealer by its events.
const product = `JS-${run}`;
must(await send("orders", "cmd", "list_product", {
  actor: gm, product_code: product, name: "valve", spec: "DN80", list_price: "500.00", standard_cost: "300.00",
}));
must(await send("orders", "cmd", "receive_stock", {
  actor: { id: "js-production", role: "production" }, product_code: product, quantity: 100,
}));
let view;
for (let attempt = 0; attempt < 100; attempt += 1) {
  view = await send("orders", "query", "get_customer_view", { customer_id: customerId });
  if (view.ok && view.result.contract_valid_to) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const correlation = headers();
correlation.set("correlation_id", `js-order-${run}`);
const order = must(await send("orders", "cmd", "place_order", {
  actor: salesperson, customer_id: customerId, channel: "phone",
  lines: [{ product_code: product, quantity: 10, unit_price: "500.00" }],
  idempotency_key: `js-order-${run}`,
}, { headers: correlation }));
const hold = must(await send("orders", "cmd", "reserve_goods", {
  actor: salesperson, customer_id: customerId, product_code: product, quantity: 5, deposit: "250.00",
}));
must(await send("orders", "query", "get_order", { order_id: order.id }));
must(await send("orders", "query", "get_reservation", { reservation_id: hold.id }));
must(await send("orders", "query", "get_product", { product_code: product }));
must(await send("orders", "query", "get_account", { customer_id: customerId }));

// A complaint (P1, P2).
const complaint = must(await send("complaints", "cmd", "log_complaint", {
  actor: salesperson, complaint_type: "quality", customer_id: customerId, order_id: order.id,
  product_name: "valve", spec: "DN80", quantity: 2, purchase_date: "2026-11-01",
  description: "leaks at the flange", assigned_to: "js-manager",
}));
must(await send("complaints", "query", "get_complaint", { complaint_id: complaint.complaint_id }));

// Every other command and query of every document, once, as a role its x-roles names (the general
// manager where it may; queries as js-reader). Whatever the answer, it must be the reply schema's.
const known = {
  customer_id: customerId, order_id: order.id, reservation_id: hold.id,
  complaint_id: complaint.complaint_id, product_code: product, salesperson_id: "js-sales", region: "SOUTH",
};
const swept = {};
for (const service of SERVICES) {
  const document = documents[service];
  const sample = sampler((ref) => resolve(document, ref), known);
  for (const [key, op] of Object.entries(document.operations)) {
    const [, , kind, name] = key.split(".");
    if (kind === "events" || operationsUsed.has(`${service}.${kind}.${name}`)) continue;
    let message = op.messages[0];
    while (message.$ref) message = resolve(document, message.$ref);
    const body = sample(resolve(document, message.payload.$ref));
    if (body.actor) {
      const roles = op["x-roles"] || [];
      if (!roles.length) mismatches.push({ what: `${service}.${kind}.${name}`, error: "a command without x-roles" });
      const role = roles.includes("general_manager") ? "general_manager" : roles[0];
      body.actor = { id: role === "salesperson" ? "js-sales" : `js-as-${role}`, role };
    }
    try {
      const answer = await send(service, kind, name, body);
      swept[`${service}.${kind}.${name}`] = answer.ok ? "ok" : answer.error.code;
      for (const [field, value] of Object.entries(answer.ok && answer.result ? answer.result : {})) {
        // what a command made (a feedback, a claim, a plan ...) is what the later queries ask about
        if (field.endsWith("_id") && typeof value === "string" && !(field in known)) known[field] = value;
      }
    } catch (error) {  // no answer at all (a timeout, no responders): the test shows which
      swept[`${service}.${kind}.${name}`] = `no reply: ${error.message}`;
    }
  }
}
const uncovered = SERVICES.flatMap((service) => Object.keys(documents[service].operations)
  .filter((key) => key.split(".")[2] !== "events")
  .map((key) => key.replace(/^salesops\./, ""))
  .filter((key) => !operationsUsed.has(key)));

// Every event of the event streams, read as the integration user with ordered consumers.
const js = reader.jetstream();
const events = [];
const counted = {};
const ours = new Set([customerId, order.id, hold.id, complaint.complaint_id]);
for (const service of STREAMS) {
  const stream = `${ns}_${service}`.toUpperCase();
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume();
  const deadline = setTimeout(() => messages.stop(), 20000);
  counted[service] = 0;
  for await (const m of messages) {
    const envelope = jc.decode(m.data);
    const type = m.subject.split(".").pop();
    const channel = documents[service].channels[`salesops.${service}.events.${type}`];
    if (!channel) {
      mismatches.push({ what: `event ${m.subject}`, error: "not in the contract" });
    } else {
      check(payloadSchema(service, Object.values(channel.messages)[0]), envelope, `event ${m.subject}`);
    }
    checked.events += 1;
    counted[service] += 1;
    if (ours.has(envelope.aggregate_id) && envelope.aggregate_type !== "CommandReceipt") {
      events.push({ subject: m.subject, msg_id: m.headers?.get("Nats-Msg-Id"), ...envelope });
    }
    if (m.info.pending === 0) break;
  }
  clearTimeout(deadline);
}

const customerEvents = events.filter((e) => e.aggregate_id === customerId);
console.log(JSON.stringify({
  customer_id: customerId,
  code: approved.code,
  repeated_code: again.code,
  malformed,
  reused,
  unproven,
  anonymous,
  order_status: order.status,
  order_correlation: events.find((e) => e.event_type === "OrderPlaced")?.correlation_id,
  events: customerEvents.slice(0, customerEvents.findIndex((e) => e.event_type === "CustomerApproved") + 1),
  event_types: [...new Set(events.map((e) => e.event_type))].sort(),
  counted,
  checked,
  operations: [...operationsUsed].sort(),
  swept,
  uncovered,
  mismatches,
}));
await nc.close();
if (reader !== nc) await reader.close();
process.exit(mismatches.length ? 1 : 0);
