"""The demo catalog: headlines, themes and counts from a real news page."""

from __future__ import annotations

import random

from .catalog import Article, Catalog
from .clock import Clock
from .commit import Committer
from .ingest import View
from .rollup import Rollup
from .settings import Settings
from .storage import Storage

SITE = "https://news.example.com"

# (id, title, theme, published, views shown on the page)
HEADLINES = [
    (
        "blinken-discusses-peace-process-between-azerbaijan-and-armenia-with-aliyev",
        "Blinken discusses peace process between Azerbaijan and Armenia with Aliyev",
        "politics",
        "2024-03-31T16:35:00Z",
        36232,
    ),
    (
        "armenia-is-deploying-troops-to-the-border-with-azerbaijan",
        "Armenia is deploying troops to the border with Azerbaijan - Azerbaijani Defense Ministry",
        "war",
        "2024-03-31T16:35:00Z",
        37233,
    ),
    (
        "peace-talks-russia-accuses-ukraine-and-the-us-of-unwillingness-to-negotiate",
        'Peace talks: Russia accuses Ukraine and the US of "unwillingness to negotiate"',
        "war",
        "2024-04-01T09:10:00Z",
        6696,
    ),
    (
        "russian-attack-on-sumy-region-there-are-dead-and-wounded-houses-destroyed",
        "Russian attack on Sumy region: there are dead and wounded, houses destroyed",
        "war",
        "2024-04-01T08:20:00Z",
        26552,
    ),
    (
        "putin-complains-about-the-wests-indifference-to-russias-interests",
        "Putin complains about the West's indifference to Russia's interests",
        "politics",
        "2024-04-01T07:45:00Z",
        28842,
    ),
    (
        "merz-trumps-30-tariffs-will-hit-german-exports-in-the-heart",
        'Merz: Trump\'s 30% tariffs will hit German exports "in the heart"',
        "economy",
        "2024-04-01T11:00:00Z",
        33669,
    ),
    (
        "the-us-opposes-palestines-permanent-membership-in-the-un",
        "The US opposes Palestine's permanent membership in the UN",
        "politics",
        "2024-03-31T12:30:00Z",
        34273,
    ),
    (
        "a-change-of-antarctic-expeditions-took-place-at-akademik-vernadsky-station",
        "A change of Antarctic expeditions took place at Akademik Vernadsky station",
        "science",
        "2024-03-31T10:05:00Z",
        29794,
    ),
    (
        "an-earthquake-has-occurred-in-china",
        "An earthquake has occurred in China",
        "world",
        "2024-03-31T06:40:00Z",
        32521,
    ),
    (
        "court-rejects-trumps-175-million-bail",
        "Court rejects Trump's $175 million bail",
        "world",
        "2024-03-30T18:15:00Z",
        41125,
    ),
    (
        "kyrgyzstan-no-longer-serves-russian-mir-cards",
        "Kyrgyzstan no longer serves Russian Mir cards",
        "economy",
        "2024-03-30T14:50:00Z",
        37132,
    ),
]


# The demo's bylines (author slug, name), by headline in turn: GET /v1/authors and the author
# lists have something to show, and the front page names the first headline's author.
AUTHORS = [
    ("lilia-podolyak", "Lilia Podolyak"),
    ("oleh-marchenko", "Oleh Marchenko"),
    ("anna-kovalenko", "Anna Kovalenko"),
]


def byline(index: int) -> tuple[str, str]:
    """The author of the index-th headline."""
    return AUTHORS[index % len(AUTHORS)]


async def load(storage: Storage, settings: Settings, clock: Clock, *, seed: int = 7) -> int:
    """Put the demo articles; the first time, spread views over the last day. Then roll up."""
    catalog = Catalog(storage, clock)
    created = False
    for n, (article_id, title, theme, published, shown) in enumerate(HEADLINES):
        url = f"{SITE}/news/{article_id}"
        author, name = byline(n)
        created |= await catalog.put(
            Article(article_id, title, url, theme, published, shown, True, author, name)
        )
    if not created:  # a restart keeps the counts it had
        await Rollup(storage, settings, clock).run()
        return 0
    rng = random.Random(seed)
    now = clock.now()
    views = []
    for rank, (article_id, *_rest) in enumerate(HEADLINES):
        for _ in range(rng.randint(20, 400) // (rank // 3 + 1)):
            views.append(View(article_id, now - rng.uniform(0, 86400), dedupe=False))
    # A story breaking in the last half hour, and a second one picking up: "Trending now".
    for article_id, burst in ((HEADLINES[7][0], 60), (HEADLINES[9][0], 35)):
        views += [View(article_id, now - rng.uniform(0, 1800), dedupe=False) for _ in range(burst)]
    await Committer(storage, settings, clock).submit_many(views)
    await Rollup(storage, settings, clock).run()
    return len(views)
