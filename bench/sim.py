"""Deterministic simulator of a Clustershazbot cluster.

It drives the very code a server runs (``Membership`` merge, refutation,
heartbeat, failure detection and cleanup; ``plan_tick`` peer choice and
offline probes; ``goodbye_order``) with a virtual clock and an in-memory
transport: no threads, no sleeps, no sockets. A seed makes every run
repeatable.

Time advances in rounds of one gossip interval; in each round every live
server ticks once, in a random order, at evenly spread moments (servers tick
independently in a real cluster). An exchange is push-pull: the receiver
merges the sender's view and answers with its own, which the sender merges.

Faults: message loss (each leg), delay of up to k rounds (each leg),
one-way and two-way partitions that heal, crashes and restarts, graceful
leaves, drains and returns, per-server clock offsets, clock steps forward and
back (then corrected), monitors present or not.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.peers import PeerBackoff, choose_partner
from flask_clustershazbot.protocol.tick import SHUTDOWN_FANOUT, TickPolicy, goodbye_order, plan_tick

EPOCH_MS = 1_800_000_000_000


@dataclass
class SimConfig:
    n: int = 10
    monitors: int = 0
    interval: float = 1.0
    failure_timeout: float | None = None
    monitor_preference: float = 0.5
    retention: float = 86_400.0
    max_skew: float = 300.0
    #: Largest clock offset of a server, in seconds (each draws one uniformly).
    max_clock_offset: float = 0.0
    loss: float = 0.0
    max_delay_rounds: int = 0
    #: The clock-step rule of docs/protocol.md section 4 (on by default). Off
    #: only to show what happens without it: ``abandon_refused_version`` is
    #: the owner's half (a new incarnation), ``forget_future_entries`` the
    #: holder's half (a view holds only what it would accept).
    abandon_refused_version: bool = True
    forget_future_entries: bool = True


@dataclass
class SimServer:
    index: int
    url: str
    monitor: bool
    clock_offset_ms: int
    membership: Membership
    backoff: PeerBackoff
    rng: random.Random
    alive: bool = True
    departed: bool = False  # left gracefully
    incarnation: int = 0
    final_version: int | None = None  # own version when it last died or left


@dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class Violation(AssertionError):
    pass


class _ClockRuleSwitch(Membership):
    """``Membership`` with either half of the clock-step rule switched off, so
    the simulator can show what each half is for (never used by a server)."""

    def __init__(self, *args: Any, abandon: bool, forget: bool, **kwargs: Any) -> None:
        self._abandon = abandon
        self._forget = forget
        super().__init__(*args, **kwargs)

    def _abandoned(self, version: int, now_ms: int) -> bool:
        return self._abandon and super()._abandoned(version, now_ms)

    def forget_future(self, now_ms: int) -> list[str]:
        return super().forget_future(now_ms) if self._forget else []


class Simulation:
    def __init__(self, config: SimConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.rng = random.Random(seed)
        self.time = 0.0
        self.round = 0
        self.policy = TickPolicy(config.interval, config.monitor_preference, config.failure_timeout)
        self.blocked: set[tuple[int, int]] = set()  # (sender, receiver) legs that are cut
        self.loss = config.loss
        self.max_delay_rounds = config.max_delay_rounds
        self._queue: list[_Delivery] = []
        self._seq = 0
        self.exchanges = 0
        self.servers = [self._new_server(i) for i in range(config.n)]
        # Everyone starts from the same master list: every server, online.
        initial = [s.membership.own for s in self.servers]
        for server in self.servers:
            server.membership.merge(initial, self.wall_ms(server), self.time)
        self._offline_everywhere_since: dict[int, int] = {}
        self._settled_dead: set[int] = set()
        #: Current clock step of each stepped server, in ms (0 once corrected).
        self.clock_steps: dict[int, int] = {}

    # -- servers -------------------------------------------------------------

    def _new_server(self, index: int) -> SimServer:
        offset = self.rng.uniform(-self.config.max_clock_offset, self.config.max_clock_offset)
        server = SimServer(
            index=index,
            url=f"http://s{index}.sim/",
            monitor=index < self.config.monitors,
            clock_offset_ms=int(offset * 1000),
            membership=None,  # type: ignore[arg-type]
            backoff=PeerBackoff(base=self.config.interval, limit=8 * self.config.interval),
            rng=random.Random(self.rng.getrandbits(64)),
        )
        server.membership = self._fresh_membership(server)
        return server

    def _fresh_membership(self, server: SimServer) -> Membership:
        settings: dict[str, Any] = {
            "monitor": server.monitor,
            "now_ms": self.wall_ms(server),
            "retention_ms": int(self.config.retention * 1000),
            "max_skew_ms": int(self.config.max_skew * 1000),
        }
        if self.config.abandon_refused_version and self.config.forget_future_entries:
            return Membership(server.url, **settings)
        return _ClockRuleSwitch(
            server.url,
            abandon=self.config.abandon_refused_version,
            forget=self.config.forget_future_entries,
            **settings,
        )

    def wall_ms(self, server: SimServer) -> int:
        return EPOCH_MS + int(self.time * 1000) + server.clock_offset_ms

    def live(self) -> list[SimServer]:
        return [s for s in self.servers if s.alive]

    def by_url(self, url: str) -> SimServer:
        return self.servers[int(url[len("http://s") : -len(".sim/")])]

    # -- transport -----------------------------------------------------------

    def _leg_delay(self) -> float:
        if self.max_delay_rounds <= 0:
            return 0.0
        return self.rng.uniform(0, self.max_delay_rounds) * self.config.interval

    def _leg_ok(self, sender: SimServer, receiver: SimServer) -> bool:
        return (sender.index, receiver.index) not in self.blocked and self.rng.random() >= self.loss

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if delay <= 0:
            action()
            return
        self._seq += 1
        heapq.heappush(self._queue, _Delivery(self.time + delay, self._seq, action))

    def exchange(self, sender: SimServer, receiver_url: str) -> bool:
        """Push-pull between two servers, subject to the faults in force.
        Returns whether the sender got an answer (for its backoff)."""
        self.exchanges += 1
        receiver = self.by_url(receiver_url)
        message = sender.membership.view()
        incarnation = sender.incarnation
        request_ok = receiver.alive and self._leg_ok(sender, receiver)
        answer_ok = request_ok and self._leg_ok(receiver, sender)
        if not answer_ok:
            sender.backoff.record_failure(receiver_url, self.time)
        else:
            sender.backoff.record_success(receiver_url)
        if not request_ok:
            return False
        answer_delay = self._leg_delay()

        def deliver_request() -> None:
            if not receiver.alive:
                return
            receiver.membership.merge(message, self.wall_ms(receiver), self.time)
            answer = receiver.membership.view()
            if not answer_ok:
                return

            def deliver_answer() -> None:
                if sender.alive and sender.incarnation == incarnation:
                    sender.membership.merge(answer, self.wall_ms(sender), self.time)

            self._later(answer_delay, deliver_answer)

        self._later(self._leg_delay(), deliver_request)
        return answer_ok

    def _deliver_due(self) -> None:
        while self._queue and self._queue[0].at <= self.time:
            heapq.heappop(self._queue).action()

    # -- life cycle ----------------------------------------------------------

    def tick(self, server: SimServer) -> None:
        plan = plan_tick(server.membership, self.wall_ms(server), self.time, server.rng, server.backoff, self.policy)
        for target in plan.targets:
            self.exchange(server, target.base_url)

    def run_round(self) -> None:
        order = self.live()
        self.rng.shuffle(order)
        step = self.config.interval / max(len(order), 1)
        start = self.round * self.config.interval
        for k, server in enumerate(order):
            self.time = start + k * step
            self._deliver_due()
            if server.alive:
                self.tick(server)
        self.round += 1
        self.time = self.round * self.config.interval
        self._deliver_due()

    def crash(self, server: SimServer) -> None:
        server.alive = False
        server.final_version = server.membership.own.last_update

    def leave(self, server: SimServer) -> None:
        """Graceful shutdown: offline with a new version, tell up to three peers."""
        server.membership.set_online(False, self.wall_ms(server))
        told = 0
        for peer in goodbye_order(server.membership, server.rng):
            if told >= SHUTDOWN_FANOUT:
                break
            told += self.exchange(server, peer.base_url)
        server.alive = False
        server.departed = True
        server.final_version = server.membership.own.last_update

    def restart(self, server: SimServer) -> None:
        """A new process at the same address: reads the master list (here,
        the view of a live server) and joins with a fresh version."""
        server.alive = True
        server.departed = False
        server.final_version = None
        server.incarnation += 1
        server.backoff = PeerBackoff(base=self.config.interval, limit=8 * self.config.interval)
        server.membership = self._fresh_membership(server)
        others = [s for s in self.live() if s is not server]
        if others:
            source = self.rng.choice(others)
            server.membership.merge(source.membership.view(), self.wall_ms(server), self.time)
        server.membership.listen_afresh(self.time)
        self._settled_dead.discard(server.index)
        self.tick(server)  # gossip once at once

    def set_online(self, server: SimServer, online: bool) -> None:
        """Drain or return through the control endpoint, then spread at once."""
        if server.membership.set_online(online, self.wall_ms(server)):
            partner = choose_partner(
                server.membership.online_peers(), server.rng, self.config.monitor_preference, server.backoff, self.time
            )
            if partner is not None:
                self.exchange(server, partner.base_url)

    def step_clock(self, server: SimServer, seconds: float) -> None:
        """Step ``server``'s wall clock by ``seconds`` (negative: back), as an
        operator or a bad time source does; its monotonic clock is untouched.
        ``step_clock(s, -x)`` after ``step_clock(s, x)`` is the correction."""
        step = int(seconds * 1000)
        server.clock_offset_ms += step
        self.clock_steps[server.index] = self.clock_steps.get(server.index, 0) + step

    def clock_out_of_bounds(self, server: SimServer) -> bool:
        """Whether ``server``'s clock is stepped further than the skew limit:
        peers must refuse what it dates (ahead) or it must refuse what they
        date (behind), so it is cut off like a partitioned server until the
        correction."""
        return abs(self.clock_steps.get(server.index, 0)) > self.config.max_skew * 1000

    def partition(self, side: Iterable[int], one_way: bool = False) -> None:
        """Cut ``side`` off from the rest (one way: only messages from ``side``)."""
        side = set(side)
        rest = {s.index for s in self.servers} - side
        for a in side:
            for b in rest:
                self.blocked.add((a, b))
                if not one_way:
                    self.blocked.add((b, a))

    def heal(self) -> None:
        self.blocked.clear()

    # -- what the cluster looks like -----------------------------------------

    def statuses(self, server: SimServer) -> dict[str, bool]:
        return {url: e.online for url, e in server.membership.entries.items()}

    def converged(self) -> bool:
        """Every live server has the same idea of who is online."""
        views = [self.statuses(s) for s in self.live()]
        return all(v == views[0] for v in views)

    def agrees_with_truth(self) -> bool:
        """Every live server sees every server as it really is."""
        truth = {s.url: s.alive and s.membership.own.online for s in self.servers}
        return all(
            {u: e.online for u, e in s.membership.entries.items() if u in truth} == truth for s in self.live()
        )

    def online_everywhere(self, servers: Iterable[SimServer]) -> bool:
        """Every one of ``servers`` is online in every live view (its own included)."""
        live = self.live()
        return all(
            (e := s.membership.entries.get(server.url)) is not None and e.online for server in servers for s in live
        )

    def rounds_until_offline_everywhere(self, server: SimServer) -> int:
        """Run rounds until every live server lists ``server`` offline; how many."""
        start = self.round
        while any(s.membership.entries[server.url].online for s in self.live()):
            self.run_round()
        return self.round - start

    def timeout_rounds(self) -> float:
        return self.policy.timeout_for(self.config.n) / self.config.interval

    # -- invariants ----------------------------------------------------------

    def check_invariants(self, refutation_rounds: int) -> None:
        """Raise :class:`Violation` (naming the seed) if an invariant broke."""
        live = self.live()
        for dead in self.servers:
            if dead.alive:
                continue
            entries = [s.membership.entries.get(dead.url) for s in live]
            for observer, entry in zip(live, entries, strict=True):
                # Nobody can invent a heartbeat for a server that is gone...
                if entry is not None and entry.online and dead.final_version is not None and (
                    entry.last_update > dead.final_version
                ):
                    self.fail(f"{dead.url} is gone but {observer.url} has a newer online entry {entry}")
            # ... and once every live view holds it offline at (or past) its
            # last version, it never comes back online unless it restarts.
            settled = all(
                e is not None and not e.online and e.last_update >= (dead.final_version or 0) for e in entries
            )
            if dead.index in self._settled_dead:
                for observer, entry in zip(live, entries, strict=True):
                    if entry is not None and entry.online:
                        self.fail(f"{dead.url} reappeared online in the view of {observer.url}")
            elif settled:
                self._settled_dead.add(dead.index)
        cut = {a for a, _ in self.blocked} | {b for _, b in self.blocked}
        cut |= {s.index for s in live if self.clock_out_of_bounds(s)}
        for server in live:
            if not server.membership.own.online or server.index in cut:
                self._offline_everywhere_since.pop(server.index, None)
                continue
            others = [s for s in live if s is not server]
            everywhere = bool(others) and all(
                (e := s.membership.entries.get(server.url)) is not None and not e.online for s in others
            )
            if not everywhere:
                self._offline_everywhere_since.pop(server.index, None)
                continue
            since = self._offline_everywhere_since.setdefault(server.index, self.round)
            if self.round - since > refutation_rounds:
                self.fail(f"{server.url} is live and online but offline in every view for {self.round - since} rounds")

    def fail(self, what: str) -> None:
        raise Violation(f"seed {self.seed}, round {self.round}: {what}")


def refutation_bound(n: int) -> int:
    """Rounds a live server may be offline in every view before that is a bug."""
    return int(2 * math.log2(max(n, 2))) + 10


def chaos_scenario(seed: int, fault_rounds: int = 40) -> Simulation:
    """A random small cluster under random faults, then calm; invariants are
    checked after every round and convergence is required at the end."""
    rng = random.Random(seed ^ 0x5EED)
    n = rng.randint(4, 12)
    config = SimConfig(
        n=n,
        monitors=rng.choice([0, 0, 1, 2]),
        loss=rng.choice([0.0, 0.05, 0.2]),
        max_delay_rounds=rng.choice([0, 0, 1, 2]),
        max_clock_offset=rng.choice([0.0, 2.0, 60.0]),
    )
    sim = Simulation(config, seed)
    bound = refutation_bound(n)
    split_at = rng.randint(0, fault_rounds // 2)
    split_for = rng.randint(5, 25)
    one_way = rng.random() < 0.3
    side = rng.sample(range(n), rng.randint(1, n // 2))
    for _ in range(fault_rounds):
        if sim.round == split_at:
            sim.partition(side, one_way=one_way)
        if sim.round == split_at + split_for:
            sim.heal()
        event = rng.random()
        candidates = sim.live()
        if event < 0.04 and len(candidates) > 2:
            sim.crash(rng.choice(candidates))
        elif event < 0.07 and len(candidates) > 2:
            sim.leave(rng.choice(candidates))
        elif event < 0.12:
            gone = [s for s in sim.servers if not s.alive]
            if gone:
                sim.restart(rng.choice(gone))
        elif event < 0.16 and candidates:
            target = rng.choice(candidates)
            sim.set_online(target, not target.membership.own.online)
        sim.run_round()
        sim.check_invariants(bound)
    # Calm: no more faults. Everyone must agree on the truth in bounded time.
    sim.heal()
    sim.loss = 0.0
    sim.max_delay_rounds = 0
    limit = sim.round + int(2 * sim.timeout_rounds()) + bound + config.max_delay_rounds + 5
    while not (sim.converged() and sim.agrees_with_truth()):
        if sim.round > limit:
            sim.fail("views did not converge after the faults stopped")
        sim.run_round()
        sim.check_invariants(bound)
    # ... and keep agreeing: no false verdicts in a calm cluster.
    for _ in range(int(sim.timeout_rounds()) + 5):
        sim.run_round()
        sim.check_invariants(bound)
        if not sim.agrees_with_truth():
            sim.fail("a calm cluster stopped agreeing with the truth")
    return sim


#: Clock steps the simulator tries, as multiples of the skew limit.
STEP_FACTORS = (0.5, 2.0, 20.0)


@dataclass
class StepOutcome:
    """What one clock-step scenario measured (rounds of one gossip interval)."""

    n: int
    stepped: int
    #: From the last correction until every stepped server is online in every
    #: live view (None: not within the limit).
    recovered_after: int | None
    #: From the last correction until every live view agrees with the truth.
    agreed_after: int | None


def clock_step_scenario(
    seed: int,
    factor: float,
    forward: bool,
    stepped: int = 1,
    hold_rounds: int = 1,
    stagger_rounds: int = 0,
    limit: int = 40,
    check: bool = True,
    **overrides: Any,
) -> StepOutcome:
    """Step the wall clocks of ``stepped`` servers by ``factor`` x the skew
    limit (``forward`` or back) for ``hold_rounds``, then correct them (each up
    to ``stagger_rounds`` apart), and measure recovery.

    A random small cluster (5 to 10 servers, offsets up to a tenth of the
    limit, some loss and delay, a server that crashed shortly before the step
    so that its offline verdict is among what a stepped clock moves) runs the
    real protocol; with ``check`` the invariants are checked after every round
    (a server whose clock is stepped beyond the limit counts as cut off, as in
    a partition) and recovery within ``limit`` rounds is required.
    """
    rng = random.Random(seed ^ 0xC10C)
    n = rng.randint(5, 10)
    config = SimConfig(
        n=n,
        monitors=rng.choice([0, 1]),
        max_skew=30.0,
        max_clock_offset=3.0,
        loss=rng.choice([0.0, 0.05]),
        max_delay_rounds=rng.choice([0, 1]),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    sim = Simulation(config, seed)
    bound = refutation_bound(n)

    def advance() -> None:
        sim.run_round()
        if check:
            sim.check_invariants(bound)

    victims = rng.sample(range(n), stepped + 1)
    dead, movers = sim.servers[victims[0]], [sim.servers[i] for i in victims[1:]]
    for _ in range(3):
        advance()
    if rng.random() < 0.5:
        sim.crash(dead)
    for _ in range(int(sim.timeout_rounds()) + 8):
        advance()
    step = (1 if forward else -1) * factor * config.max_skew
    for server in movers:
        sim.step_clock(server, step)
    corrections = {server.index: sim.round + hold_rounds + rng.randint(0, stagger_rounds) for server in movers}
    last = max(corrections.values())
    while sim.round < last:
        advance()
        for server in movers:
            if corrections[server.index] == sim.round:
                sim.step_clock(server, -step)
    # Recovered means: from then on, and for a further failure timeout and
    # more, never lost again (a peer that has not timed the server out yet
    # lists it online even while it is refused).
    watch = limit + int(sim.timeout_rounds()) + 5
    not_everywhere = disagreed = -1
    while sim.round - last <= watch:
        if not sim.online_everywhere(movers):
            not_everywhere = sim.round - last
        if not (sim.converged() and sim.agrees_with_truth()):
            disagreed = sim.round - last
        advance()
    recovered = not_everywhere + 1 if not_everywhere < limit else None
    agreed = disagreed + 1 if disagreed < limit else None
    if check and (recovered is None or agreed is None):
        sim.fail(f"no lasting recovery within {limit} rounds of the correction ({recovered=}, {agreed=})")
    return StepOutcome(n, stepped, recovered, agreed)
