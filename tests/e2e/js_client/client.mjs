// A client of the salesops bus contract written in another language, knowing only the contract
// (ARCHITECTURE.md "Bus contract" and docs/asyncapi/customers.json): plain NATS and JSON.
// It onboards a dealer over request/reply, checks a malformed command is refused, then reads the
// dealer's events from the JetStream stream. Prints one JSON object with what it saw.
// Each command carries its actor's token (header "Authorization: Bearer <token>"), handed over in
// SALESOPS_TOKENS as {"<user id>": "<token>"} by whoever issued them (docs/integration.md).
import { connect, JSONCodec, headers } from "nats";

const ns = process.env.SALESOPS_NAMESPACE || "salesops";
const servers = process.env.SALESOPS_NATS_URL || "nats://127.0.0.1:4222";
const jc = JSONCodec();
const tokens = JSON.parse(process.env.SALESOPS_TOKENS || "{}");
const nc = await connect({ servers });

async function command(name, body, token = tokens[body.actor?.id]) {
  const h = headers();
  if (token) h.set("Authorization", `Bearer ${token}`);
  const reply = await nc.request(`${ns}.customers.cmd.${name}`, jc.encode(body), { timeout: 10000, headers: h });
  return jc.decode(reply.data);
}

function must(reply) {
  if (!reply.ok) throw new Error(JSON.stringify(reply.error));
  return reply.result;
}

const salesperson = { id: "js-sales", role: "salesperson" };
const prospect = must(await command("register_prospect", {
  actor: salesperson, kind: "dealer", region: "SOUTH", salesperson_id: "js-sales",
  company_name: "Guangzhou JS Trading", founding_date: "2016-08-08", legal_representative: "Chen Jing",
  registered_capital: "800000.00", address: "Tianhe Road 1, Guangzhou", phone: "020-12345678",
  business_scale: "small", staff_count: 12, annual_sales: "4200000.00", main_products: ["valves"],
  preferred_payment_terms: "30 days", bank: "China Merchants Bank",
}));
must(await command("investigate_credit", {
  actor: { id: "js-finance", role: "finance" }, customer_id: prospect.customer_id,
  rating: "good", credit_limit: "300000.00",
}));
// A role written into the body proves nothing: the salesperson's token claiming general_manager is
// refused, and so is a command without a token.
const generalManager = { id: "js-sales", role: "general_manager" };
const unproven = await command("approve_customer", { actor: generalManager, customer_id: prospect.customer_id });
const anonymous = await command(
  "approve_customer", { actor: { id: "js-gm", role: "general_manager" }, customer_id: prospect.customer_id }, null,
);
const approved = must(await command("approve_customer", {
  actor: { id: "js-supervisor", role: "sales_supervisor" }, customer_id: prospect.customer_id,
  idempotency_key: `js-approve-${prospect.customer_id}`,
}));
const again = must(await command("approve_customer", {
  actor: { id: "js-supervisor", role: "sales_supervisor" }, customer_id: prospect.customer_id,
  idempotency_key: `js-approve-${prospect.customer_id}`,
}));
const malformed = await command("approve_customer", { actor: salesperson });

const js = nc.jetstream();
const stream = `${ns}_customers`.toUpperCase();
const consumer = await js.consumers.get(stream); // ordered consumer over the service's event stream
const events = [];
const messages = await consumer.consume();
const deadline = setTimeout(() => messages.stop(), 15000);
for await (const m of messages) {
  const envelope = jc.decode(m.data);
  if (envelope.aggregate_id === prospect.customer_id) {
    events.push({ subject: m.subject, msg_id: m.headers?.get("Nats-Msg-Id"), ...envelope });
  }
  if (envelope.event_type === "CustomerApproved" && envelope.aggregate_id === prospect.customer_id) break;
}
clearTimeout(deadline);
console.log(JSON.stringify({
  customer_id: prospect.customer_id, code: approved.code, repeated_code: again.code, malformed, unproven, anonymous, events,
}));
await nc.close();
