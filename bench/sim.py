"""Deterministic simulator of a Clustershazbot cluster.

It drives the very code a server runs (``Membership`` merge, refutation,
heartbeat, failure detection and cleanup; ``plan_tick`` peer choice and
offline probes; the leave and spread decisions of ``protocol/tick.py``) with a virtual clock and an in-memory
transport: no threads, no sleeps, no sockets. A seed makes every run
repeatable.

Time advances in rounds of one gossip interval; in each round every live
server ticks once, in a random order, at evenly spread moments (servers tick
independently in a real cluster). An exchange is push-pull: the receiver
merges the sender's view and answers with its own, which the sender merges.

Faults: message loss (each leg), delay of up to k rounds (each leg),
one-way and two-way partitions that heal, crashes and restarts, graceful
leaves, drains and returns, per-server clock offsets, clock steps forward and
back (then corrected), monitors present or not, slow servers (``slow``) and
servers whose outgoing calls all fail (``mute``).

Fast failure detection (``SimConfig.indirect_probes``, docs/protocol.md 8.4)
runs ``protocol/suspicion.py``: a failed exchange with an online partner
starts a suspicion; each probe request (accuser to witness and back) is
subject to the faults, each witness tries the suspect with real exchanges; a
verdict is merged and pushed at once. Probe legs take no delay.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.peers import PeerBackoff
from flask_clustershazbot.protocol.suspicion import LocalHealth, SuspicionPolicy, Suspicions, witness_answer
from flask_clustershazbot.protocol.tick import (
    GoodbyeFanout,
    TickPolicy,
    begin_leave,
    goodbye_order,
    plan_tick,
    spread_partner,
)

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
    #: Witnesses asked after a failed exchange (SHAZBOT_INDIRECT_PROBES;
    #: 0: heartbeat timeout only, as before fast failure detection).
    indirect_probes: int = 3
    #: Overrides of :class:`SuspicionPolicy` fields (for tuning).
    suspicion: dict[str, Any] = field(default_factory=dict)


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
    #: Fast failure detection (None when indirect probes are off).
    health: LocalHealth | None = None
    suspicions: Suspicions | None = None
    last_tick_round: int | None = None


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
        self.suspicion_policy = SuspicionPolicy(
            interval_ms=int(config.interval * 1000),
            failure_timeout_ms=int(self.policy.timeout_for(config.n) * 1000),
            probes=config.indirect_probes,
            **config.suspicion,
        )
        #: Servers whose ticks run 3x slower (every third round) and whose
        #: answers miss the deadline 3x as often as the loss rate says.
        self.slow: set[int] = set()
        #: Servers whose outgoing calls all fail (they still answer).
        self.mute: set[int] = set()
        #: Offline verdicts about live, online servers, by how they were reached.
        self.false_verdicts = {"timeout": 0, "probe": 0}
        self.probe_requests = 0  # accuser -> witness
        self.witness_exchanges = 0  # witness -> suspect attempts (also in ``exchanges``)
        self.verdict_pushes = 0  # exchanges pushing a fresh verdict (also in ``exchanges``)
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
            backoff=self.policy.new_backoff(),
            rng=random.Random(self.rng.getrandbits(64)),
        )
        server.membership = self._fresh_membership(server)
        self._fresh_detector(server)
        return server

    def _fresh_detector(self, server: SimServer) -> None:
        if self.config.indirect_probes > 0:
            server.health = LocalHealth(self.suspicion_policy)
            server.suspicions = Suspicions(server.url, self.suspicion_policy)
        server.last_tick_round = None

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

    def _answer_ok(self, receiver: SimServer, sender: SimServer) -> bool:
        # A slow server's answer misses the deadline 3x as often.
        if receiver.index in self.slow and self.rng.random() < min(1.0, 2 * self.loss):
            return False
        return self._leg_ok(receiver, sender)

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
        request_ok = receiver.alive and sender.index not in self.mute and self._leg_ok(sender, receiver)
        answer_ok = request_ok and self._answer_ok(receiver, sender)
        if not answer_ok:
            sender.backoff.record_failure(receiver_url, self.time)
        else:
            sender.backoff.record_success(receiver_url)
            if sender.suspicions is not None:
                sender.suspicions.contact(receiver_url)
        if not request_ok:
            return False
        if receiver.suspicions is not None:
            receiver.suspicions.contact(sender.url)
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
        # Ticks are due every round; a slow server's come rounds late.
        late_rounds = 0 if server.last_tick_round is None else max(0, self.round - server.last_tick_round - 1)
        server.last_tick_round = self.round
        plan = plan_tick(server.membership, self.wall_ms(server), self.time, server.rng, server.backoff, self.policy)
        self._count_verdicts(plan.failed, "timeout")
        if server.health is None or server.suspicions is None:
            for target in plan.targets:
                self.exchange(server, target.base_url)
            return
        now = self.mono_ms()
        server.health.record_tick(now, int(late_rounds * self.config.interval * 1000), plan.paused)
        healthy = server.health.healthy(now)
        peers = server.membership.online_peers()
        for suspect, witnesses in server.suspicions.due(now, server.membership.entries, peers, server.rng, healthy):
            self._probe_round(server, suspect, witnesses)
        for target in plan.targets:
            ok = self.exchange(server, target.base_url)
            if target is not plan.partner:
                continue  # an offline peer not answering is no news
            server.health.record_exchange(ok)
            current = server.membership.entries.get(target.base_url)
            if not ok and current is not None:
                healthy = server.health.healthy(now)
                peers = server.membership.online_peers()
                witnesses = server.suspicions.start(current, now, peers, server.rng, healthy)
                if witnesses:
                    self._probe_round(server, current, witnesses)

    def mono_ms(self) -> int:
        """The virtual monotonic clock, in ms (what suspicions are timed by)."""
        return int(self.time * 1000)

    def _count_verdicts(self, verdicts: Iterable[ServerEntry], how: str) -> None:
        for entry in verdicts:
            suspect = self.by_url(entry.base_url)
            if suspect.alive and suspect.membership.own.online:
                self.false_verdicts[how] += 1

    def _probe_round(self, accuser: SimServer, suspect: ServerEntry, witnesses: list[ServerEntry]) -> None:
        """One suspicion round: ask each witness (request and answer legs
        subject to the faults in force), each witness tries the suspect with
        real exchanges, then the accuser concludes and pushes a verdict."""
        assert accuser.health is not None and accuser.suspicions is not None
        policy = self.suspicion_policy
        now = self.mono_ms()
        for entry in witnesses:
            self.probe_requests += 1
            witness = self.by_url(entry.base_url)
            reachable: bool | None = None
            if witness.alive and accuser.index not in self.mute and self._leg_ok(accuser, witness):
                reached = False
                for _ in range(policy.witness_attempts):
                    self.witness_exchanges += 1
                    if self.exchange(witness, suspect.base_url):
                        reached = True
                        break
                # A witness without the fast path (health None) still tests.
                healthy = witness.health is None or witness.health.healthy(now)
                said = witness_answer(reached, healthy)
                if self._answer_ok(witness, accuser):
                    reachable = said
            accuser.health.record_exchange(reachable is not None)
            accuser.suspicions.answer(suspect.base_url, entry.base_url, reachable)
        verdict = accuser.suspicions.conclude(suspect.base_url, now, accuser.membership.entries.get(suspect.base_url))
        if verdict is None:
            return
        self._count_verdicts([verdict], "probe")
        accuser.membership.merge([verdict], self.wall_ms(accuser), self.time)
        # Spread at once, as a drain is, but to several peers (monitors first).
        fanout = GoodbyeFanout(goodbye_order(accuser.membership, accuser.rng), fanout=policy.verdict_fanout)
        while batch := fanout.start():
            for peer in batch:
                self.verdict_pushes += 1
                fanout.record(self.exchange(accuser, peer.base_url))

    def run_round(self) -> None:
        order = self.live()
        self.rng.shuffle(order)
        step = self.config.interval / max(len(order), 1)
        start = self.round * self.config.interval
        for k, server in enumerate(order):
            self.time = start + k * step
            self._deliver_due()
            if server.alive and (server.index not in self.slow or self.round % 3 == server.index % 3):
                self.tick(server)
        self.round += 1
        self.time = self.round * self.config.interval
        self._deliver_due()

    def crash(self, server: SimServer) -> None:
        server.alive = False
        server.final_version = server.membership.own.last_update

    def leave(self, server: SimServer) -> None:
        """Graceful shutdown, as a server leaves (one call after the other
        here): offline with a new version, tell up to three peers."""
        fanout = GoodbyeFanout(begin_leave(server.membership, self.wall_ms(server), server.rng))
        while batch := fanout.start():
            for peer in batch:
                fanout.record(self.exchange(server, peer.base_url))
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
        server.backoff = self.policy.new_backoff()
        server.membership = self._fresh_membership(server)
        self._fresh_detector(server)
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
            partner = spread_partner(server.membership, server.rng, self.policy, server.backoff, self.time)
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
