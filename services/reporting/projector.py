"""How an event changes reporting's projections, aggregated in memory (``Projector``) and then written by
the statements of ``bulk.py``. Applying events in any order within a source gives the same rows, which is
what lets a rebuild (reading the log in its own order) equal the live tables row for row (R9)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import asyncpg

from services.reporting.bulk import STATEMENTS, add_statements
from services.reporting.field_figures import FieldFigures
from services.reporting.periods import PeriodFinder, PeriodMode, micros, moment, period_of_day
from services.reporting.tables import (
    DIM_GROUPS,
    PERIOD_COUNTERS,
    REGION_COUNTERS,
    STAFF_COUNTERS,
    WHOLE_ORDERS,
)
from shared import complaints_contract, orders_contract
from shared.customer_contract import (
    CapitalLimitSet,
    CreditInvestigated,
    CustomerApproved,
    CustomerGraded,
    CustomerRegistered,
    CustomerReinstated,
    CustomerRejected,
    CustomerSuspended,
    decode_data,
)

if TYPE_CHECKING:
    from shared.contracts import Envelope


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    service: str
    position: int
    event_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    data: dict[str, Any]

    def as_row(self) -> tuple[Any, ...]:
        """As ``Projector.apply_rows`` reads the log's ``LOGGED_COLUMNS`` (no sequence yet: 0)."""
        return (
            0,
            self.service,
            self.position,
            self.event_type,
            self.aggregate_id,
            self.aggregate_version,
            micros(self.occurred_at),
            self.data,
        )


def from_envelope(envelope: Envelope) -> LoggedEvent:
    return LoggedEvent(
        envelope.service,
        envelope.position,
        envelope.event_type,
        envelope.aggregate_id,
        envelope.aggregate_version,
        envelope.occurred_at,
        envelope.data,
    )


# ---------------------------------------------------------------- applying events (in memory, then flushed)

ZERO, ONE = Decimal(0), Decimal(1)  # a count adds ONE: Decimal + Decimal is quicker than Decimal + int


@functools.lru_cache(maxsize=4096)
def _decimal(value: str | int) -> Decimal:
    """Cached: a replay parses the same few amounts ("100.00", quantities) millions of times."""
    try:
        return Decimal(value)
    except InvalidOperation:
        return ZERO


def money(value: Any) -> Decimal:
    kind = value.__class__
    if kind is str or kind is int:  # JSON's money strings and quantities (an int's Decimal is its str's)
        return _decimal(value)
    try:
        return Decimal(str(value)) if value is not None else ZERO
    except InvalidOperation:
        return ZERO


PERIOD_INDEX = {name: i for i, name in enumerate(PERIOD_COUNTERS)}
STAFF_INDEX = {name: i for i, name in enumerate(STAFF_COUNTERS)}
ORDERS, ORDERED, QUANTITY = PERIOD_INDEX["orders"], PERIOD_INDEX["ordered_amount"], PERIOD_INDEX["quantity"]
CREDIT_NOTES, RETURNED = PERIOD_INDEX["credit_notes"], PERIOD_INDEX["returned_amount"]
STAFF_ORDERS, STAFF_AMOUNT = STAFF_INDEX["orders"], STAFF_INDEX["amount"]
# Imported history (R14): the counters a line of the file adds to, by the field of its event's data.
HISTORY_FIELDS = {
    name: PERIOD_INDEX[name] for name in ("ordered_amount", "shipped_amount", "paid_amount", "quantity")
}
# An order's status: what the last of its events says (the one measure of exposure reads it).
CANCELLED = "cancelled"
# O11: an opening receivable is a row of ``orders`` under its own id, with this status (queries.exposure).
OPENING = "opening"
# Events that add to one counter of their (customer, period): 1, or the money in a field of their data.
COUNTED: dict[tuple[str, str], tuple[str, str | None]] = {
    orders_contract.OverLimitApproved.key(): ("over_limit_approvals", None),
    orders_contract.OrderReserved.key(): ("holds_made", None),
    orders_contract.DepositReceived.key(): ("deposits", "amount"),
    orders_contract.ReservationConverted.key(): ("holds_converted", None),
    orders_contract.ReservationExpired.key(): ("holds_expired", None),
    orders_contract.ReorderAlertRaised.key(): ("reorder_alerts", None),
}
# The customer events the dimension follows (the contract's typed events, ``Projector._customer``).
CUSTOMER_EVENTS = (
    CustomerRegistered,
    CreditInvestigated,
    CustomerApproved,
    CustomerGraded,
    CapitalLimitSet,
    CustomerRejected,
    CustomerSuspended,
    CustomerReinstated,
)
# Columns of the log that ``Projector.apply_rows`` reads, in its order. The moment comes as microseconds
# since 1970 (``periods.micros``): decoding a timestamptz into a datetime was a fifth of what reading an
# event cost a rebuild.
LOGGED_COLUMNS = (
    "seq, service, position, event_type, aggregate_id, aggregate_version, "
    "(extract(epoch FROM occurred_at) * 1000000)::int8 AS occurred_us, data"
)
Handler = Callable[[str, int, int, int, dict[str, Any]], None]


@dataclass
class Projector:
    """Aggregates a run of events in memory; ``flush`` adds them to a schema's tables.

    Each (service, event type) has a handler taking (aggregate id, version, position, occurred at in
    microseconds since 1970, data); a replay runs millions of events through them, so they avoid per-event
    work that can be shared."""

    mode: PeriodMode
    only: frozenset[str] | None = None
    periods: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)
    products_sold: dict[tuple[str, str, str], list[Decimal]] = field(default_factory=dict)
    staff: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)
    regions: dict[tuple[str, str, str], list[Decimal]] = field(
        default_factory=dict
    )  # (region, period, product)
    dims: dict[str, dict[str, tuple[int, tuple[Any, ...]]]] = field(default_factory=dict)
    products: dict[str, tuple[int, tuple[Any, ...]]] = field(default_factory=dict)
    # order id -> [(version, placed fields) | None, (version, (status,)) | None, paid, shipped]
    orders: dict[str, list[Any]] = field(default_factory=dict)
    receivables: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    cancellations: dict[str, str] = field(default_factory=dict)  # order id -> period cancelled in
    # (order id, period) -> [amount, lines]: what credit notes take off the sales of their order's region
    credit_notes: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    signoffs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    history_files: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    field_figures: FieldFigures = field(init=False, repr=False)  # R11, R13
    applied: int = 0
    handlers: dict[tuple[str, str], Handler] = field(init=False, repr=False)
    period: PeriodFinder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.period = PeriodFinder(self.mode)
        self.handlers = {
            orders_contract.ProductListed.key(): self._product,
            orders_contract.ProductRelisted.key(): self._product,
            orders_contract.OrderPlaced.key(): self._order_placed,
            orders_contract.OrderReleased.key(): self._order_status,
            orders_contract.OrderHeld.key(): self._order_status,
            orders_contract.CreditNoteIssued.key(): self._credit_note,
            orders_contract.OpeningReceivableRecorded.key(): self._opening_recorded,
            orders_contract.OpeningReceivablePaid.key(): self._opening_paid,
            orders_contract.OrderShipped.key(): self._order_shipped,
            orders_contract.PaymentReceived.key(): self._order_paid,
            orders_contract.CreditApplied.key(): self._credit_applied,
            orders_contract.OrderCancelled.key(): self._order_cancelled,
            ("reporting", "HistoryLineImported"): self._history_line,
            ("reporting", "HistoryFileImported"): self._history_file,
            ("reporting", "PeriodSignedOff"): self._signed_off,
            orders_contract.RequestListMatched.key(): self._matched,
            complaints_contract.ComplaintLogged.key(): self._complaint,
            complaints_contract.PenaltyIssued.key(): self._penalty,
            complaints_contract.DismissalRecommended.key(): self._dismissal,
        }
        self.field_figures = FieldFigures(self.mode)
        self.handlers.update(self.field_figures.handlers())
        for model in CUSTOMER_EVENTS:
            self.handlers[model.key()] = functools.partial(self._customer, model.__name__)
        for key, (counter, amount_field) in COUNTED.items():
            self.handlers[key] = functools.partial(self._counted, PERIOD_INDEX[counter], amount_field)

    def apply_all(self, events: Iterable[LoggedEvent]) -> None:
        self.apply_rows([event.as_row() for event in events])

    def apply_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Apply rows of the log's ``LOGGED_COLUMNS`` (as a rebuild reads them; the sequence is not used)."""
        handlers = self.handlers
        for _seq, service, position, event_type, aggregate_id, version, at, data in rows:
            handler = handlers.get((service, event_type))
            if handler is not None:
                handler(aggregate_id, version, position, at, data)
        self.applied += len(rows)

    # ------------------------------------------------ what the handlers change

    @staticmethod
    def _row(
        table: dict[tuple[str, str], list[Decimal]], owner: Any, period: str, width: int
    ) -> list[Decimal] | None:
        """The counters of (owner, period) in ``table``, None without an owner."""
        if not owner:
            return None
        key = (str(owner), period)
        row = table.get(key)
        if row is None:
            row = table[key] = [ZERO] * width
        return row

    def _add(self, customer_id: Any, period: str, index: int, delta: Decimal) -> None:
        row = self._row(self.periods, customer_id, period, len(PERIOD_COUNTERS))
        if row is not None:
            row[index] += delta

    def _staff(self, staff_id: Any, period: str, index: int, delta: Decimal) -> None:
        row = self._row(self.staff, staff_id, period, len(STAFF_COUNTERS))
        if row is not None:
            row[index] += delta

    def _region(
        self, region: Any, period: str, product: str, orders: Decimal, amount: Decimal, quantity: Decimal
    ) -> None:
        if not region:
            return
        key = (str(region), period, product)
        row = self.regions.get(key)
        if row is None:
            row = self.regions[key] = [ZERO] * len(REGION_COUNTERS)
        row[0] += orders
        row[1] += amount
        row[2] += quantity

    def _dim(self, customer_id: Any, group: str, version: int, values: tuple[Any, ...]) -> None:
        if not customer_id:
            return
        groups = self.dims.setdefault(str(customer_id), {})
        current = groups.get(group)
        if current is None or version > current[0]:  # a tie keeps what came first, as the SQL does
            groups[group] = (version, values)

    # ------------------------------------------------ customers: the dimension, by the customer's version

    def _customer(
        self, event_type: str, cid: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        event = decode_data(event_type, d)
        match event:
            case CustomerRegistered():
                info = (event.kind.value, event.region, event.salesperson_id, event.company_name, moment(at))
                self._dim(cid, "info", version, info)
            case CreditInvestigated(credit_limit=limit, rating=rating):
                self._dim(cid, "credit", version, (limit, rating.value))
            case CustomerApproved(code=code):
                self._dim(cid, "approval", version, (code, moment(at)))
            case CustomerGraded(grade=grade):
                self._dim(cid, "grade", version, (grade.value,))
            case CapitalLimitSet(capital_limit=limit):
                self._dim(cid, "capital", version, (limit,))
        # The report's statuses: a prospect under investigation is still reported a prospect.
        if event is not None and event.STATUS is not None and not isinstance(event, CreditInvestigated):
            self._dim(cid, "status", version, (event.STATUS.value,))

    # ------------------------------------------------ orders and complaints: counters per period

    def _product(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        code = d.get("product_code")
        if code:
            current = self.products.get(code)
            if current is None or position > current[0]:
                values = (d.get("name"), money(d.get("list_price")), money(d.get("standard_cost")))
                self.products[code] = (position, values)

    def _order_placed(
        self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        p = self.period(at)
        cid = str(d.get("customer_id") or "")
        amount = money(d.get("total_amount"))
        row = self._row(self.periods, cid, p, len(PERIOD_COUNTERS))
        lines = d.get("lines") or []
        if row is not None:
            row[ORDERS] += ONE
            row[ORDERED] += amount
        salesperson, region = d.get("salesperson_id"), d.get("region")
        self._region(region, p, WHOLE_ORDERS, ONE, amount, ZERO)  # C10: the region at the time of the sale
        staff = self._row(self.staff, salesperson, p, len(STAFF_COUNTERS))
        if staff is not None:
            staff[STAFF_ORDERS] += ONE
            staff[STAFF_AMOUNT] += amount
        # The exposure's order (a cancellation reads the rest from the log's OrderPlaced: bulk.LeavingSales)
        order = self._order(aggregate_id)
        order[0] = (version, (cid, amount))
        self._order_status(aggregate_id, version, position, at, d)
        deposit = d.get("deposit_applied")
        if deposit is not None:  # a converted hold's deposit pays toward it (O9)
            order[2] += money(deposit)
        if not cid:
            return
        # Version 0: a hint until the customer's own registration (version >= 1) arrives. What _dim
        # would decide, checked before building the hint: most orders come from a known customer.
        groups = self.dims.get(cid)
        info = groups.get("info") if groups else None
        if info is None or info[0] < 0:
            self._dim(cid, "info", 0, (d.get("customer_kind"), region, salesperson, None, None))
        products_sold = self.products_sold
        for line in lines:
            code = line.get("product_code")
            if code:
                quantity, line_amount = money(line.get("quantity")), money(line.get("amount"))
                self._region(region, p, code, ZERO, line_amount, quantity)
                if row is not None:
                    row[QUANTITY] += quantity
                key = (cid, p, code)
                sold = products_sold.get(key)
                if sold is None:
                    sold = products_sold[key] = [ZERO, ZERO]
                sold[0] += quantity
                sold[1] += line_amount

    def _order(self, order_id: str) -> list[Any]:
        order = self.orders.get(order_id)
        if order is None:
            order = self.orders[order_id] = [None, None, ZERO, ZERO]
        return order

    def _order_status(self, order_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        status = d.get("status")
        if status:
            order = self._order(order_id)
            if order[1] is None or version > order[1][0]:
                order[1] = (version, (status,))

    def _order_shipped(self, order_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        cid, amount = str(d.get("customer_id") or ""), money(d.get("amount"))
        self._add(cid, self.period(at), PERIOD_INDEX["shipped_amount"], amount)
        self._order_status(order_id, version, position, at, d)
        self._order(order_id)[3] += amount
        due = d.get("due_on")
        shipment = str(d.get("shipment_id") or version)
        self.receivables[order_id, shipment] = (cid, amount, date.fromisoformat(due) if due else None)

    def _order_paid(self, order_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        amount = money(d.get("amount"))
        self._add(str(d.get("customer_id") or ""), self.period(at), PERIOD_INDEX["paid_amount"], amount)
        self._order_status(order_id, version, position, at, d)
        self._order(order_id)[2] += amount

    def _credit_applied(self, order_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        """Customer credit pays toward the order (O9) without being a payment received in the period."""
        self._order(order_id)[2] += money(d.get("amount"))

    def _credit_note(self, order_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        """O15/O16: the part of a credit note taken off the order's receivable settles it as a payment
        would (the rest went to the customer's credit), lowering the exposure and the receivable.
        R2 rev 2: its amount (and the quantities of its lines) leave the sales of the period it is issued
        in, and are counted there as returned; the salesperson's figure is read from the log
        (``bulk.LeavingSales``)."""
        self._order(order_id)[2] += money(d.get("to_receivable"))
        issued_on = d.get("issued_on")
        p = period_of_day(date.fromisoformat(issued_on), self.mode) if issued_on else self.period(at)
        cid, amount = str(d.get("customer_id") or ""), money(d.get("amount"))
        row = self._row(self.periods, cid, p, len(PERIOD_COUNTERS))
        if row is not None:
            row[ORDERED] -= amount
            row[CREDIT_NOTES] += ONE
            row[RETURNED] += amount
        lines = d.get("lines") or []
        noted = self.credit_notes.setdefault((order_id, p), [ZERO, []])
        noted[0] += amount
        noted[1] += lines
        for line in lines:
            code = line.get("product_code")
            if code and row is not None:
                quantity = money(line.get("quantity"))
                row[QUANTITY] -= quantity
                sold = self.products_sold.get((cid, p, code))
                if sold is None:
                    sold = self.products_sold[cid, p, code] = [ZERO, ZERO]
                sold[0] -= quantity
                sold[1] -= money(line.get("amount"))

    def _opening_recorded(
        self, account_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        """O11: what a customer owed at adoption is an order row of its own, shipped and unpaid: it counts
        in the exposure (O6/O7) and ages from its due date (R12), but is no sale of any period."""
        receivable_id, cid = str(d.get("receivable_id")), str(d.get("customer_id") or "")
        amount = money(d.get("amount"))
        order = self._order(receivable_id)
        order[0] = (version, (cid, amount))
        order[1] = (version, (OPENING,))
        order[3] += amount
        due = d.get("due_on")
        self.receivables[receivable_id, OPENING] = (cid, amount, date.fromisoformat(due) if due else None)

    def _opening_paid(self, account_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._order(str(d.get("receivable_id")))[2] += money(d.get("amount"))

    def _order_cancelled(
        self, order_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        p = self.period(at)
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX["orders_cancelled"], ONE)
        self._order_status(order_id, version, position, at, {"status": CANCELLED})
        self.cancellations[order_id] = p

    # ------------------------------------------------ reporting's own events: history (R14), sign-off (R1)

    def _history_line(
        self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        period = str(d.get("period"))
        row = self._row(self.periods, d.get("customer_id"), period, len(PERIOD_COUNTERS))
        if row is not None:
            for name, index in HISTORY_FIELDS.items():
                row[index] += money(d.get(name))
        # R5: in the region the customer was in when it was imported (lines imported before that was
        # recorded name none, and count in no region).
        self._region(d.get("region"), period, WHOLE_ORDERS, ZERO, money(d.get("ordered_amount")), ZERO)

    def _history_file(
        self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        self.history_files.setdefault(
            str(d.get("sha256")),
            (d.get("file_name"), int(d.get("lines") or 0), moment(at), d.get("imported_by")),
        )

    def _signed_off(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self.signoffs.setdefault(
            str(d.get("period")), (moment(at), d.get("signed_by"), d.get("report") or {})
        )

    def _counted(
        self,
        index: int,
        amount_field: str | None,
        aggregate_id: str,
        version: int,
        position: int,
        at: int,
        d: dict[str, Any],
    ) -> None:
        delta = ONE if amount_field is None else money(d.get(amount_field))
        self._add(str(d.get("customer_id") or ""), self.period(at), index, delta)

    def _matched(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        p, cid = self.period(at), str(d.get("customer_id") or "")
        self._add(cid, p, PERIOD_INDEX["match_rate_sum"], money(d.get("match_rate")))
        self._add(cid, p, PERIOD_INDEX["match_rate_count"], ONE)

    def _complaint(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        p = self.period(at)
        kind = "quality_complaints" if d.get("complaint_type") == "quality" else "service_complaints"
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX[kind], ONE)
        self._staff(d.get("staff_id"), p, STAFF_INDEX["complaints"], ONE)

    def _penalty(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        p, amount, staff_id = self.period(at), money(d.get("amount")), d.get("staff_id")
        self._add(str(d.get("customer_id") or ""), p, PERIOD_INDEX["fines"], amount)
        self._staff(staff_id, p, STAFF_INDEX["penalties"], ONE)
        self._staff(staff_id, p, STAFF_INDEX["fines"], amount)

    def _dismissal(self, aggregate_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._staff(d.get("staff_id"), self.period(at), STAFF_INDEX["dismissals"], ONE)

    def _wants(self, name: str) -> bool:
        # What leaves the sales is written with the sales tables, which a rebuild selects with orders;
        # the field statement writes each of its tables that is selected (``FieldFigures.rows``).
        return self.only is None or name == "field" or ("orders" if name == "leaving" else name) in self.only

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        """What was aggregated for statement ``name``, as rows of its ``STATEMENTS`` entry, sorted by key."""
        if not self._wants(name):
            return []
        if name == "customer_period":
            return [(*k, *v) for k, v in sorted(self.periods.items())]
        if name == "customer_product_period":
            return [(*k, *v) for k, v in sorted(self.products_sold.items())]
        if name == "staff_period":
            return [(*k, *v) for k, v in sorted(self.staff.items())]
        if name == "region_period":
            return [(*k, *v) for k, v in sorted(self.regions.items())]
        if name == "products":
            return [(code, *values, version) for code, (version, values) in sorted(self.products.items())]
        if name == "orders":
            return [self._order_row(order_id, order) for order_id, order in sorted(self.orders.items())]
        if name == "receivables":
            return [(*key, *values) for key, values in sorted(self.receivables.items())]
        if name == "unpaid_receivables":  # the orders whose unpaid part may have changed
            return [(order_id,) for order_id in sorted({*self.orders, *(key[0] for key in self.receivables)})]
        if name == "leaving":  # cancellations (nothing credited), then credit notes
            return [(*item, None, None) for item in sorted(self.cancellations.items())] + [
                (*key, amount, lines) for key, (amount, lines) in sorted(self.credit_notes.items())
            ]
        if name == "signoffs":
            return [(key, *values) for key, values in sorted(self.signoffs.items())]
        if name == "history_files":
            return [(key, *values) for key, values in sorted(self.history_files.items())]
        if name == "field":
            return self.field_figures.rows(self.only)
        rows = []
        for customer_id, groups in sorted(self.dims.items()):
            values: list[Any] = [customer_id]
            group_versions: list[int] = []
            for group, cols in DIM_GROUPS.items():
                version, group_values = groups.get(group, (-1, (None,) * len(cols)))
                values += list(group_values)
                group_versions.append(version)
            rows.append((*values, *group_versions))
        return rows

    @staticmethod
    def _order_row(order_id: str, order: list[Any]) -> tuple[Any, ...]:
        placed_version, placed = order[0] or (-1, (None, None))
        status_version, status = order[1] or (-1, (None,))
        return (order_id, *placed, *status, placed_version, status_version, order[2], order[3])

    async def flush(self, conn: asyncpg.Connection, schema: str) -> None:
        """Add what was aggregated to ``schema``'s tables (the caller holds the transaction), then reset."""
        await add_statements(conn, schema, self.upserts())

    def upserts(self) -> list[tuple[str, list[Any]]]:
        """What was aggregated, as (projection, arguments of its upsert) for those with rows; then reset.
        Tables in a fixed order and rows sorted by key: concurrent batches (one consumer per source) lock
        rows in the same order, so they wait for each other instead of deadlocking."""
        found = [
            (name, upsert.arrays(rows)) for name, upsert in STATEMENTS.items() if (rows := self.rows(name))
        ]
        self.periods, self.products_sold, self.staff, self.dims, self.products = {}, {}, {}, {}, {}
        self.regions = {}
        self.orders, self.receivables, self.cancellations, self.signoffs, self.history_files = (
            {},
            {},
            {},
            {},
            {},
        )
        self.credit_notes = {}
        self.field_figures.reset()
        return found
