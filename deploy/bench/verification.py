"""The identity row of part (1) (issue 23): what verifying every request's token costs the orders process
at saturation, a fresh orders process with verification on beside one with it off."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from deploy.bench.common import IN_FLIGHT, Client, Figure, Results, Sizes, process_env
from deploy.bench.cpu import cpu_during
from deploy.bench.host import collector_paused
from deploy.bench.load import place_orders
from deploy.local.processes import ServiceProcesses, wait_ready
from shared.settings import Settings

UNVERIFIED = {"SALESOPS_IDENTITY_UNVERIFIED_FOR_BENCHMARK": "true"}
VERIFICATION_ROUNDS = 2
# Commands per verification run at most (a CPU tick, 10 ms, is then 1 µs a command): the full run's 20,000
# four times over would add more than a minute.
VERIFICATION_COMMANDS = 10_000


@dataclass
class Verification:
    """Saturation runs of a fresh orders process with every token verified and with none (each mode's best
    of ``VERIFICATION_ROUNDS``, in the order off, on, on, off): commands/s, and the orders process's CPU per
    command."""

    rates: dict[bool, list[float]]
    cpu_ms: dict[bool, list[float]]

    def add_figures(self, results: Results) -> None:
        rate_on, rate_off = max(self.rates[True]), max(self.rates[False])
        cpu_on, cpu_off = min(self.cpu_ms[True]), min(self.cpu_ms[False])
        without = "the same without verification (SALESOPS_IDENTITY_UNVERIFIED_FOR_BENCHMARK)"
        results.add(
            Figure(
                "1 commands",
                "place_order at 64 in flight, every token verified (a fresh orders process)",
                rate_on,
                "commands/s",
                rate_off,
                without,
            )
        )
        cost = 1000 * (cpu_on - cpu_off)
        results.add(
            Figure(
                "1 commands",
                "verifying the token: the orders process's CPU per command, with minus without",
                cost,
                "µs",
                1000 * cpu_off,
                "its CPU per command without verification",
                "≤ 50 µs",
                cost <= 50,
            )
        )
        results.notes.append(
            "Verification at saturation (a fresh orders process per run, off, on, on, off; best of "
            f"{VERIFICATION_ROUNDS}): commands/s with {', '.join(f'{r:,.0f}' for r in self.rates[True])}, "
            f"without {', '.join(f'{r:,.0f}' for r in self.rates[False])} (wall time per command "
            f"{1e6 / rate_on - 1e6 / rate_off:+,.0f} µs); the orders process's CPU per command with "
            f"{', '.join(f'{1000 * ms:,.0f}' for ms in self.cpu_ms[True])} µs, without "
            f"{', '.join(f'{1000 * ms:,.0f}' for ms in self.cpu_ms[False])} µs."
        )


async def verification_cost(
    client: Client,
    db: asyncpg.Connection,
    settings: Settings,
    customers: list[str],
    sizes: Sizes,
    offset: int,
    log_dir: Path,
) -> Verification:
    """The identity row (issue 23): the same saturation run against an orders process that verifies every
    request's token and one started with verification off, each fresh and warmed up alike."""
    found = Verification({True: [], False: []}, {True: [], False: []})
    count = min(sizes.saturation_commands, VERIFICATION_COMMANDS)
    for round_ in range(VERIFICATION_ROUNDS):
        # off, on, then on, off: a host slowing down (or speeding up) during the runs favours neither
        for verified in (False, True) if round_ % 2 == 0 else (True, False):
            print(f"(1) commands: saturation, verification {'on' if verified else 'off'}", flush=True)
            env = process_env(settings) | ({} if verified else UNVERIFIED)
            orders = ServiceProcesses(env, log_dir / f"verification-{round_}-{verified}")
            try:
                orders.start("orders")
                await wait_ready(client.nc, settings.namespace, "orders")
                await place_orders(client, customers, len(customers) + 100, 16, offset)  # warm-up
                offset += len(customers) + 100
                with collector_paused():
                    async with cpu_during(db, settings, {"orders": orders.running["orders"].pid}) as cpu:
                        seconds, _, _ = await place_orders(client, customers, count, IN_FLIGHT, offset)
                offset += count
            finally:
                orders.stop_all()
            found.rates[verified].append(count / seconds)
            found.cpu_ms[verified].append(cpu.per_command_ms(count)["orders"])
    return found
