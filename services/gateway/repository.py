"""Every read the gateway makes, each scoped to the `AuthSubject` asking.

Reads go through the owners' read contracts (views in `ingest` and `clustering`), never their tables.
As Polar's `get_readable_statement(auth_subject)` does, each contract has ONE function here that opens a
statement on it already scoped to the subject's tenant (`readable_assets`, `readable_sessions`, ...);
every read below starts from one of them and only narrows it. No route, and no read here, writes its
own tenant filter: a read that does not start from a `readable_*` statement cannot name a view.

Lists are keyset-paginated (services/gateway/pagination.py): each page is one indexed query (the
gallery: at most two, timed assets then those without a time), never OFFSET.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from libs.common.storage import original_key
from libs.lineage.facts import Flag
from services.gateway.auth import AuthSubject
from services.gateway.pagination import Cursor


@dataclass
class Statement:
    """A read of one contract, scoped to one subject: `FROM source WHERE <tenant> AND ...`, `$1` the
    tenant. Narrow it with `where`, binding values with `bind` (which numbers the placeholders)."""

    source: str
    args: list[Any]
    conditions: list[str] = field(default_factory=list)

    def bind(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, condition: str) -> Statement:
        self.conditions.append(condition)
        return self

    def select(self, columns: str, tail: str = "") -> tuple[Any, ...]:
        """The SQL and its arguments, for `pool.fetch(*statement.select(...))`."""
        sql = f"SELECT {columns} FROM {self.source} WHERE {' AND '.join(self.conditions)} {tail}".rstrip()
        return (sql, *self.args)

    def subquery(self, inner: Statement, columns: str) -> str:
        """`inner` (another contract's `readable_*` statement) as SQL to use inside this one, e.g. in
        `EXISTS (...)`: both are scoped to the same subject, so its `$1` is this statement's `$1`; its
        other values are bound again here. The inner read keeps its own tenant condition."""
        if inner.args[:1] != self.args[:1]:
            raise ValueError("a subquery must be scoped to the same subject as its statement")
        renumbered = {f"${i}": self.bind(value) for i, value in enumerate(inner.args[1:], start=2)}
        sql = inner.select(columns)[0]
        return re.sub(r"\$\d+\b", lambda m: renumbered.get(m.group(0), m.group(0)), sql)


def _scoped(source: str, *tenant_columns: str, subject: AuthSubject) -> Statement:
    """`source` with every one of its relations' tenant columns bound to the subject's tenant."""
    return Statement(source, [subject.tenant_id], [f"{column} = $1" for column in tenant_columns])


def readable_assets(subject: AuthSubject) -> Statement:
    """ingest.asset_cards as `a`, with the asset's session membership (`m`, NULL when in none)."""
    return _scoped(
        "ingest.asset_cards a LEFT JOIN clustering.session_members m "
        "ON m.asset_id = a.asset_id AND m.tenant_id = $1",
        "a.tenant_id",
        subject=subject,
    )


def readable_facet_totals(subject: AuthSubject) -> Statement:
    """ingest.facet_totals as `ft`: the workspace's counts of each tool, model and LoRA, kept as
    assets arrive (rows to sum per facet and value)."""
    return _scoped("ingest.facet_totals ft", "ft.tenant_id", subject=subject)


def readable_reflections(subject: AuthSubject) -> Statement:
    """reflection.reflection_cards as `r`: the reflection service's read contract."""
    return _scoped("reflection.reflection_cards r", "r.tenant_id", subject=subject)


def readable_reflection_summaries(subject: AuthSubject) -> Statement:
    """reflection.session_reflection_summaries as `rs`: each session's latest completed reflection."""
    return _scoped("reflection.session_reflection_summaries rs", "rs.tenant_id", subject=subject)


def readable_asset_status(subject: AuthSubject) -> Statement:
    """ingest.asset_status as `st`: every asset's pipeline status, quarantined ones included."""
    return _scoped("ingest.asset_status st", "st.tenant_id", subject=subject)


def readable_uploads(subject: AuthSubject) -> Statement:
    """gateway.uploads as `u`: what this gateway staged."""
    return _scoped("gateway.uploads u", "u.tenant_id", subject=subject)


def readable_sessions(subject: AuthSubject) -> Statement:
    """clustering.session_cards as `s`: live sessions (merged-away ones are in `readable_redirects`)."""
    return _scoped("clustering.session_cards s", "s.tenant_id", subject=subject)


def readable_redirects(subject: AuthSubject) -> Statement:
    """clustering.session_redirects as `r`: merged-away session ids and the session they became."""
    return _scoped("clustering.session_redirects r", "r.tenant_id", subject=subject)


def readable_session_assets(subject: AuthSubject) -> Statement:
    """clustering.session_members as `m` joined to their asset cards `a`."""
    return _scoped(
        "clustering.session_members m JOIN ingest.asset_cards a ON a.asset_id = m.asset_id AND a.tenant_id = $1",
        "m.tenant_id",
        subject=subject,
    )


def readable_session_settings(subject: AuthSubject) -> Statement:
    """clustering.session_settings as `ss`."""
    return _scoped("clustering.session_settings ss", "ss.tenant_id", subject=subject)


# curation (issue 14): clustering owns lineage, stacks and flags; these are its read contracts


def readable_lineage_links(subject: AuthSubject) -> Statement:
    """clustering.lineage_links as `ll`: parent -> child edges, with relation, rule, evidence, confidence."""
    return _scoped("clustering.lineage_links ll", "ll.tenant_id", subject=subject)


def readable_session_stacks(subject: AuthSubject) -> Statement:
    """clustering.session_stacks as `sk`: every session's stacks (singletons included), cover and members."""
    return _scoped("clustering.session_stacks sk", "sk.tenant_id", subject=subject)


def readable_asset_flags(subject: AuthSubject) -> Statement:
    """clustering.asset_flags as `f`: the person's pick / reject of an asset (no row: unflagged)."""
    return _scoped("clustering.asset_flags f", "f.tenant_id", subject=subject)


def readable_member_facts(subject: AuthSubject) -> Statement:
    """clustering.member_facts as `mf`: a session member's generation parameters, for the change strip."""
    return _scoped("clustering.member_facts mf", "mf.tenant_id", subject=subject)


async def statuses(
    pool: asyncpg.Pool, subject: AuthSubject, asset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    q = readable_asset_status(subject)
    q.where(f"st.asset_id = ANY({q.bind(asset_ids)}::uuid[])")
    rows = await pool.fetch(*q.select("st.asset_id, st.status, st.reason"))
    return {r["asset_id"]: r for r in rows}


async def staged(conn: asyncpg.Connection, subject: AuthSubject, sha256s: list[str]) -> dict[str, uuid.UUID]:
    q = readable_uploads(subject)
    q.where(f"u.sha256 = ANY({q.bind(sha256s)}::text[])")
    rows = await conn.fetch(*q.select("u.sha256, u.asset_id"))
    return {r["sha256"]: r["asset_id"] for r in rows}


async def known_sha256s(pool: asyncpg.Pool, subject: AuthSubject, sha256s: list[str]) -> set[str]:
    """The subset of `sha256s` the tenant already has: staged here, or imported by ingest another way
    (a connected folder does not pass through gateway.uploads)."""
    uploads, imported = readable_uploads(subject), readable_asset_status(subject)
    uploads.where(f"u.sha256 = ANY({uploads.bind(sha256s)}::text[])")
    imported.where(f"st.sha256 = ANY({imported.bind(sha256s)}::text[])")
    known = {r["sha256"] for r in await pool.fetch(*uploads.select("u.sha256"))}
    return known | {r["sha256"] for r in await pool.fetch(*imported.select("st.sha256"))}


async def record_upload(
    conn: asyncpg.Connection, subject: AuthSubject, asset_id: uuid.UUID, sha256: str, filename: str
) -> bool:
    """False when the tenant already staged these bytes (a concurrent upload won)."""
    row = await conn.fetchrow(
        "INSERT INTO gateway.uploads (asset_id, tenant_id, sha256, filename) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING asset_id",
        asset_id, subject.tenant_id, sha256, filename,
    )  # fmt: skip
    return row is not None


# what a session card shows, from clustering's read contract
SESSION_CARD_COLUMNS = (
    "s.session_id, s.start_at, s.end_at, s.asset_count, s.precision, s.cover_asset_ids, s.updated_at, "
    "s.reflection_summary, s.summary, s.rejected_count"
)


async def sessions(
    pool: asyncpg.Pool,
    subject: AuthSubject,
    *,
    limit: int,
    before: datetime | None = None,
    after: Cursor | None = None,
) -> list[asyncpg.Record]:
    """Newest first by (start_at, session_id); `after` is the last card of the previous page."""
    q = readable_sessions(subject)
    if before is not None:
        q.where(f"s.start_at < {q.bind(before)}")
    if after is not None:
        q.where(f"(s.start_at, s.session_id) < ({q.bind(after.at)}, {q.bind(after.id)})")
    return await pool.fetch(
        *q.select(SESSION_CARD_COLUMNS, f"ORDER BY s.start_at DESC, s.session_id DESC LIMIT {q.bind(limit)}")
    )


async def resolve_session(pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID) -> uuid.UUID:
    """The id a session id stands for now: the survivor when it was merged away, else itself."""
    q = readable_redirects(subject)
    q.where(f"r.session_id = {q.bind(session_id)}")
    return await pool.fetchval(*q.select("r.merged_into")) or session_id


async def session(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> tuple[asyncpg.Record | None, uuid.UUID]:
    """The session, following a merge redirect; returns (row, the id it resolved to)."""
    resolved = await resolve_session(pool, subject, session_id)
    q = readable_sessions(subject)
    q.where(f"s.session_id = {q.bind(resolved)}")
    return await pool.fetchrow(*q.select(SESSION_CARD_COLUMNS)), resolved


async def neighbours(
    pool: asyncpg.Pool, subject: AuthSubject, row: asyncpg.Record
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The live sessions just before and just after `row` in time (the ones it can be merged with):
    two probes of the (tenant, start_at, session_id) index."""
    found: list[uuid.UUID | None] = []
    for test, order in (("<", "DESC"), (">", "ASC")):
        q = readable_sessions(subject)
        q.where(f"(s.start_at, s.session_id) {test} ({q.bind(row['start_at'])}, {q.bind(row['session_id'])})")
        found.append(
            await pool.fetchval(
                *q.select("s.session_id", f"ORDER BY s.start_at {order}, s.session_id {order} LIMIT 1")
            )
        )
    return found[0], found[1]


async def sessions_by_id(
    pool: asyncpg.Pool, subject: AuthSubject, session_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """These live sessions' cards, in time order (ids merged away or of other tenants are left out)."""
    q = readable_sessions(subject)
    q.where(f"s.session_id = ANY({q.bind(session_ids)}::uuid[])")
    return await pool.fetch(*q.select(SESSION_CARD_COLUMNS, "ORDER BY s.start_at, s.session_id"))


async def session_gap_minutes(pool: asyncpg.Pool, subject: AuthSubject) -> int | None:
    """The tenant's own session gap; None when it uses the default rule (or never set anything)."""
    return await pool.fetchval(*readable_session_settings(subject).select("ss.gap_minutes"))


ASSET_COLUMNS = (
    "a.asset_id, a.filename, a.format, a.tool, a.prompt, a.negative_prompt, a.seed, a.model, a.sampler, a.steps, "
    "a.cfg, a.width, a.height, a.generated_at, a.timestamp_source, a.timestamp_precision, a.dominant_colors, "
    "a.imported_at, a.metadata_error, a.loras"
)


async def session_assets(
    pool: asyncpg.Pool,
    subject: AuthSubject,
    session_id: uuid.UUID,
    *,
    limit: int | None = None,
    after: Cursor | None = None,
    flags: FlagFilter | None = None,
) -> list[asyncpg.Record]:
    """The session's assets in generation order, (generated_at, asset_id); `after`: the previous page's last.
    With `flags` rows carry their `flag` and are narrowed by it (the owner's views by the request's
    filters, a share link's by the gallery's default: rejects left out); without, every member."""
    q = readable_session_assets(subject)
    q.where(f"m.session_id = {q.bind(session_id)}")
    if after is not None:
        q.where(f"(m.generated_at, m.asset_id) > ({q.bind(after.at)}, {q.bind(after.id)})")
    columns = ASSET_COLUMNS
    if flags is not None:
        flags.narrow(q, subject)
        columns += f", {flag_column(q, subject)}"
    tail = "ORDER BY m.generated_at, m.asset_id" + (f" LIMIT {q.bind(limit)}" if limit is not None else "")
    return await pool.fetch(*q.select(columns, tail))


FLAGS: tuple[Flag, ...] = ("pick", "reject")


def flag_literal(flag: Flag) -> str:
    """The flag as an SQL constant, written in rather than bound so the planner sees which one it is
    (one of two fixed words, checked)."""
    if flag not in FLAGS:
        raise ValueError(f"not a flag: {flag!r}")
    return f"'{flag}'"


def _flagged(subject: AuthSubject, flag: Flag) -> Statement:
    """The flags row saying the outer statement's asset `a` is flagged `flag`."""
    return (
        readable_asset_flags(subject).where("f.asset_id = a.asset_id").where(f"f.flag = {flag_literal(flag)}")
    )


def flag_column(q: Statement, subject: AuthSubject) -> str:
    """The asset's flag ('pick', 'reject' or NULL) as a column of `q` (a statement over `a`): a scalar
    subquery, so it is read only for the rows the page returns (one index probe each)."""
    flags = readable_asset_flags(subject).where("f.asset_id = a.asset_id")
    return f"({q.subquery(flags, 'f.flag')}) AS flag"


@dataclass(frozen=True)
class FlagFilter:
    """Keepers: `flag` keeps only the assets flagged so (`pick`: keepers only); without it rejects are
    left out unless `include_rejected`. An anti-join (NOT EXISTS) on the flags view: the gallery still
    reads its time index backwards and stops after a page, each row costing one probe of the flags'
    (tenant, asset) key (a million assets with 49,000 rejects: first page 0.6 -> 1.2 ms of database
    time). Written as a per-row comparison with a scalar subquery instead, the planner cannot estimate
    it and a one-word search took 1.3-2 s; NOT EXISTS it estimates from the flags' statistics."""

    flag: Flag | None = None
    include_rejected: bool = False

    def keyset(self, timed: bool) -> tuple[str, str] | None:
        """The columns a page of `narrow(..., timed=timed)` is ordered and bounded by when they are the
        flags' (`f`): (time, id). None: the assets' own."""
        return ("f.generated_at", "f.asset_id") if self.flag is not None and timed else None

    def narrow(self, q: Statement, subject: AuthSubject, *, timed: bool = False) -> Statement:
        """`q` (a statement over assets `a`) narrowed to these flags. `timed`: `q` reads only assets with a
        time, newest first (the gallery's first part); its keepers are then a join of the flags on the
        asset, ordered and bounded by the time clustering keeps on each flags row (migration 007, equal
        to the asset's by its triggers; see `keyset`), so a page is a backward range of the flags'
        (tenant, flag, time, id) index, each row one probe of its asset. As EXISTS the planner could
        only walk the assets' time index probing each for a pick, or join every pick and sort: 12 ms for
        keepers alone, 280 ms with a one-word search and 530 ms with a tool (with their counts) at a
        million assets with 58,000 picks. Not joined on the time as well: the planner multiplies the
        two equalities' selectivities, expects one row, and then joins all 58,000 picks and sorts
        them (850 ms)."""
        if self.keyset(timed) is not None:
            assert self.flag is not None
            flags = (
                readable_asset_flags(subject)
                .where(f"f.flag = {flag_literal(self.flag)}")
                .where("f.generated_at IS NOT NULL")
            )
            q.source += (
                f" JOIN ({q.subquery(flags, 'f.asset_id, f.generated_at')}) f ON f.asset_id = a.asset_id"
            )
        elif self.flag is not None:
            q.where(f"EXISTS ({q.subquery(_flagged(subject, self.flag), '1')})")
        elif not self.include_rejected:
            q.where(f"NOT EXISTS ({q.subquery(_flagged(subject, 'reject'), '1')})")
        return q


def tsquery_literal(text: str) -> str:
    """The query as a constant in the SQL, not a bound value: asyncpg prepares statements, and after
    five runs PostgreSQL may switch to a generic plan that cannot see the words, guesses a default
    selectivity and reads every match through the GIN index (510 ms for a common word at a million
    assets, against 2.8 ms planned with the word). Safe to inline: `AssetFilter.tsquery` builds it from
    \\w+ words, `&`, `:` and `A` only, which the check below holds."""
    if not re.fullmatch(r"[\w:& ]+", text):
        raise ValueError("not a query AssetFilter.tsquery built")
    return f"to_tsquery('simple', '{text}')"


@dataclass(frozen=True)
class AssetFilter:
    """What the gallery is narrowed to; every field is optional and they combine (AND)."""

    q: str | None = None  # full text over prompt and negative prompt (ingest.assets.search)
    tool: str | None = None
    model: str | None = None
    lora: str | None = None  # a LoRA name as ingest stores it: lower-case, no folder or extension
    from_: datetime | None = None  # generated at or after
    to: datetime | None = None  # generated before
    has_time: bool | None = None
    session: uuid.UUID | None = None
    # keepers: rejects hidden by default. Not counted by `is_empty`'s fast path for the facets: the
    # whole-library menu counts (kept by ingest) include rejected assets
    flags: FlagFilter = FlagFilter()

    def tsquery(self, weight: str = "") -> str | None:
        """`q` as a to_tsquery('simple', ...) text: every word required, as written (lower-cased), in the
        prompt only with weight="A". Whole words, not prefixes (`word:*`): the planner estimates a whole
        word from the column's statistics, and so reads a common word's newest matches from the time
        index (4 ms at a million assets); a prefix it guesses at 400 rows, goes through the GIN index for
        all 82,000 matches and sorts them (455 ms). Words are letters/digits/underscore only, so no
        tsquery operator from the user reaches PostgreSQL; None when `q` has no word at all."""
        words = re.findall(r"\w+", (self.q or "").lower())[:16]
        return " & ".join(f"{w}:{weight}" if weight else w for w in words) or None

    def narrow(
        self, q: Statement, subject: AuthSubject, *, timed: bool = False, prompt_matched: bool = False
    ) -> Statement:
        """`q` (a `readable_assets` statement of `subject`) narrowed to these filters; `timed`: `q` reads
        only assets with a time (see `FlagFilter.narrow`); `prompt_matched`: `q` is a search's first
        class, already narrowed to every word in the prompt. Keepers then leave out the plain match,
        which that implies: the planner multiplies the two matches' selectivities (8 % x 8 % for
        "lighthouse": it expects 0.7 %), and so joins every pick and sorts (190 ms) rather than read the
        picks newest first until a page matches (6.5 ms)."""
        self.flags.narrow(q, subject, timed=timed)
        implied = prompt_matched and self.flags.keyset(timed) is not None
        if (text := self.tsquery()) is not None and not implied:
            q.where(f"a.search @@ {tsquery_literal(text)}")
        if self.tool is not None:
            q.where(f"a.tool = {q.bind(self.tool)}")
        if self.model is not None:
            q.where(f"a.model = {q.bind(self.model)}")
        if self.lora is not None:
            q.where(f"a.loras @> ARRAY[{q.bind(self.lora.lower())}::text]")
        if self.from_ is not None:
            q.where(f"a.generated_at >= {q.bind(self.from_)}")
        if self.to is not None:
            q.where(f"a.generated_at < {q.bind(self.to)}")
        if self.has_time is not None:
            q.where("a.generated_at IS NOT NULL" if self.has_time else "a.generated_at IS NULL")
        if self.session is not None:
            q.where(f"m.session_id = {q.bind(self.session)}")
        return q

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) == f.default for f in dataclasses.fields(self))

    @property
    def timed_only(self) -> bool:
        return self.has_time is True or self.from_ is not None or self.to is not None


# a part of the gallery: (narrow the statement to it, its time column, its rank or None outside a search)
Part = tuple[Callable[[Statement], Any], str, int | None]


def gallery_parts(filters: AssetFilter) -> list[Part]:
    """The gallery's parts in order, each read by its own keyset. Without `q`: assets with a time (by
    generated_at), then those without (by imported_at). With `q`: the same two, first for the assets whose
    prompt holds every word (rank 1), then for those matching only through the negative prompt (rank 0)."""
    timed: list[Part] = (
        []
        if filters.has_time is False
        else [(lambda q: q.where("a.generated_at IS NOT NULL"), "a.generated_at", None)]
    )
    untimed: list[Part] = (
        [] if filters.timed_only else [(lambda q: q.where("a.generated_at IS NULL"), "a.imported_at", None)]
    )
    base = timed + untimed
    if (prompt := filters.tsquery(weight="A")) is None:
        return base
    parts: list[Part] = []
    for rank, test in ((1, ""), (0, "NOT ")):
        for narrow, column, _ in base:

            def part(q: Statement, narrow: Callable[[Statement], Any] = narrow, test: str = test) -> None:
                narrow(q)
                q.where(f"{test}a.search @@ {tsquery_literal(prompt)}")

            parts.append((part, column, rank))
    return parts


def part_of(filters: AssetFilter, after: Cursor) -> int:
    """The index, in `gallery_parts(filters)`, of the part `after` is in (0 when it fits none)."""
    for i, (_, column, rank) in enumerate(gallery_parts(filters)):
        if (column == "a.imported_at") == after.untimed and (rank is None or rank == after.rank):
            return i
    return 0


async def assets(
    pool: asyncpg.Pool,
    subject: AuthSubject,
    *,
    limit: int,
    after: Cursor | None = None,
    without_time: bool = False,
    filters: AssetFilter | None = None,
) -> list[asyncpg.Record]:
    """The gallery: assets with a generation time, newest first by (generated_at, asset_id), then those
    without one, newest import first by (imported_at, asset_id). Two keysets rather than one ordering
    with NULLS LAST: a row comparison never matches a NULL, and each part has its own index. A page is
    one query, or two when it crosses from one part into the next. `filters` narrow every part.

    With a full-text `q` the matches come best first, ranked in two classes: every word in the prompt
    (rank 1), then matches through the negative prompt only (rank 0); newest first within a class (each
    class again timed, then untimed). A documented choice over `ts_rank` order: ranking by ts_rank must
    score and sort every match before the first page (181 ms of database time for a word in 6% of a
    million assets), while newest-first within a class reads the time index backwards and stops after a
    page of matches. Rows carry `rank` (the class) for the cursor."""
    filters = filters or AssetFilter()
    if without_time:
        filters = replace(filters, has_time=False)
    parts = gallery_parts(filters)
    first = part_of(filters, after) if after is not None else 0
    rows: list[asyncpg.Record] = []
    for i in range(first, len(parts)):
        if len(rows) >= limit:
            break
        narrow, column, rank = parts[i]
        timed = column == "a.generated_at"
        q = filters.narrow(readable_assets(subject), subject, timed=timed, prompt_matched=rank == 1)
        narrow(q)
        # keepers page by the flags' copy of (time, id), equal to the asset's: see FlagFilter.narrow
        at_column, id_column = filters.flags.keyset(timed) or (column, "a.asset_id")
        if after is not None and i == first:
            q.where(f"({at_column}, {id_column}) < ({q.bind(after.at)}, {q.bind(after.id)})")
        ranked = f", {rank}::real AS rank" if rank is not None else ""
        rows += await pool.fetch(*q.select(
            f"{ASSET_COLUMNS}, m.session_id, {flag_column(q, subject)}{ranked}",
            f"ORDER BY {at_column} DESC, {id_column} DESC LIMIT {q.bind(limit - len(rows))}",
        ))  # fmt: skip
    return rows


EXACT_COUNT_UP_TO = 10_000
ESTIMATE_TRUSTED_ABOVE = 5 * EXACT_COUNT_UP_TO
KEEPERS_COUNTED_UP_TO = 2_000  # keepers with other filters: see count_assets


async def planner_estimate(pool: asyncpg.Pool, sql: str, args: Sequence[Any]) -> int:
    """How many rows PostgreSQL expects `sql` to return (EXPLAIN, no execution, ~1 ms)."""
    plan = await pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


async def count_assets(pool: asyncpg.Pool, subject: AuthSubject, filters: AssetFilter) -> tuple[int, bool]:
    """How many assets match: (count, exact). First the planner's estimate of the statement; when it
    is past 50,000 (five times the exact limit) that estimate is the answer, inexact. Otherwise an
    exact count over at most 10,001 rows: exact up to 10,000, beyond that the larger of the estimate
    and 10,001, inexact. Counting 10,001 matches of a common word costs ~80 ms at a million assets
    (the planner reads the table until it has them); the estimate of a whole word comes from the
    column's statistics. The price: a set the planner overestimates five times or more gets an
    estimate where an exact count under 10,000 was possible.

    Keepers only and nothing else (`flag=pick`): counted on the flags view alone, an index range of the
    workspace's picks (2 ms for 21,000 picks in a million assets, where the join to the assets took
    150-500 ms); every flagged asset is one the workspace can read, as the gateway checks before
    forwarding a flag.

    Keepers with other filters, in a workspace of more than 2,000 picks: the planner's estimate,
    inexact, even under 10,000. Counting them exactly means probing every pick's asset (or every
    match's flag): 70 ms for the 4,900 keepers matching a one-word search and 300 ms for a tool among
    58,000 picks in a million assets, where the page itself takes 2-7 ms; the estimate (4,790 for
    those 4,900) costs a planning. Up to 2,000 picks the exact count costs at most 2,000 probes."""
    flagged = None
    if filters.flags.flag is not None:
        flagged = readable_asset_flags(subject).where(f"f.flag = {flag_literal(filters.flags.flag)}")
        if replace(filters, flags=FlagFilter()).is_empty:
            return await pool.fetchval(*flagged.select("count(*)")), True
    q = filters.narrow(readable_assets(subject), subject)
    sql, *args = q.select("1")
    estimate = await planner_estimate(pool, sql, args)
    if estimate > ESTIMATE_TRUSTED_ABOVE:
        return estimate, False
    if flagged is not None:
        picks_sql, *picks_args = flagged.select("1", f"LIMIT {KEEPERS_COUNTED_UP_TO + 1}")
        if await pool.fetchval(f"SELECT count(*) FROM ({picks_sql}) k", *picks_args) > KEEPERS_COUNTED_UP_TO:
            return estimate, False
    counted = await pool.fetchval(f"SELECT count(*) FROM ({sql} LIMIT {EXACT_COUNT_UP_TO + 1}) c", *args)
    if counted <= EXACT_COUNT_UP_TO:
        return counted, True
    return max(estimate, counted), False


FACET_LIMIT = 50
FACET_SAMPLE = 2_000


@dataclass
class Facets:
    """The filter menus: each facet's values, most frequent first, and whether the counts are exact."""

    values: dict[str, list[dict[str, Any]]]
    exact: bool


def top_facets(rows: Iterable[tuple[str, str, int]]) -> dict[str, list[dict[str, Any]]]:
    """(facet, value, count) rows as each facet's 50 most frequent values (ties by value)."""
    out: dict[str, list[dict[str, Any]]] = {"tool": [], "model": [], "lora": []}
    for facet, value, n in sorted(rows, key=lambda r: (-r[2], r[1])):
        if n > 0 and len(out[facet]) < FACET_LIMIT:
            out[facet].append({"value": value, "count": n})
    return out


async def facets(pool: asyncpg.Pool, subject: AuthSubject, filters: AssetFilter) -> Facets:
    """The values of tool, model and LoRA with their counts among the assets `filters` leave.

    Over the whole library: the counts ingest keeps as assets arrive (exact, a few hundred rows).
    Under filters: the matches grouped three ways, exact when there are at most 2,000 of them; past
    that, counted over the first 2,000 matches PostgreSQL finds and scaled to the planner's estimate
    of all matches (inexact). Counting every match cost 178 ms for a word in 8% of a million
    assets, reading each match's row; a menu needs the order and the size of its values, not the
    last unit."""
    if filters.is_empty:
        t = readable_facet_totals(subject)
        rows = await pool.fetch(
            *t.select("ft.facet, ft.value, sum(ft.n)::bigint AS n", "GROUP BY ft.facet, ft.value")
        )
        return Facets(top_facets((r["facet"], r["value"], r["n"]) for r in rows), exact=True)
    q = filters.narrow(readable_assets(subject), subject)
    sql, *args = q.select("a.tool, a.model, a.loras", f"LIMIT {FACET_SAMPLE + 1}")
    rows = await pool.fetch(
        f"""
        WITH f AS MATERIALIZED ({sql})
        SELECT 'tool' AS facet, tool AS value, count(*) AS n FROM f WHERE tool IS NOT NULL GROUP BY tool
        UNION ALL
        SELECT 'model', model, count(*) FROM f WHERE model IS NOT NULL GROUP BY model
        UNION ALL
        SELECT 'lora', l, count(*) FROM f, unnest(f.loras) AS l GROUP BY l
        UNION ALL
        SELECT '', '', count(*) FROM f
        """,
        *args,
    )
    matched = next(r["n"] for r in rows if r["facet"] == "")
    counts = [(r["facet"], r["value"], r["n"]) for r in rows if r["facet"]]
    if matched <= FACET_SAMPLE:
        return Facets(top_facets(counts), exact=True)
    count_sql, *count_args = q.select("1")
    estimate = await planner_estimate(pool, count_sql, count_args)
    scale = max(estimate, matched) / matched
    return Facets(top_facets((f, v, max(1, round(n * scale))) for f, v, n in counts), exact=False)


async def set_time_zone(pool: asyncpg.Pool, subject: AuthSubject, time_zone: str) -> None:
    await pool.execute(
        "UPDATE gateway.tenants SET time_zone = $2 WHERE tenant_id = $1", subject.tenant_id, time_zone
    )


async def asset(pool: asyncpg.Pool, subject: AuthSubject, asset_id: uuid.UUID) -> asyncpg.Record | None:
    q = readable_assets(subject)
    q.where(f"a.asset_id = {q.bind(asset_id)}")
    return await pool.fetchrow(*q.select(
        f"{ASSET_COLUMNS}, a.metadata, a.card_key, a.detail_key, a.sha256, m.session_id, {flag_column(q, subject)}"
    ))  # fmt: skip


@dataclass(frozen=True)
class Original:
    """Where an asset's original file is in the object store (originals bucket), and what to call it."""

    key: str
    filename: str
    format: str | None


async def original(pool: asyncpg.Pool, subject: AuthSubject, asset_id: uuid.UUID) -> Original | None:
    """The original of an asset the subject can read, or None. Every import path (upload, zip, connected
    folder) puts it under `original_key(tenant, sha256)`: the content's own hash under its workspace."""
    q = readable_assets(subject)
    q.where(f"a.asset_id = {q.bind(asset_id)}")
    row = await pool.fetchrow(*q.select("a.tenant_id, a.sha256, a.filename, a.format"))
    if row is None:
        return None
    return Original(original_key(row["tenant_id"], row["sha256"]), row["filename"], row["format"])


async def quarantined(
    pool: asyncpg.Pool, subject: AuthSubject, *, limit: int, after: Cursor | None = None
) -> list[asyncpg.Record]:
    """Quarantined files, newest first by (at, asset_id); `after`: the previous page's last."""
    q = readable_asset_status(subject).where("st.status = 'quarantined'")
    if after is not None:
        q.where(f"(st.at, st.asset_id) < ({q.bind(after.at)}, {q.bind(after.id)})")
    return await pool.fetch(*q.select(
        "st.asset_id, st.filename, st.reason, st.at", f"ORDER BY st.at DESC, st.asset_id DESC LIMIT {q.bind(limit)}"
    ))  # fmt: skip
