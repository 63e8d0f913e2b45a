"""Bot detection: crawlerdetect's answers in linear time, and over-long User-Agents never read."""

from __future__ import annotations

import random
import string

from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as CRAWLER_PATTERNS

from service import ingest
from service.bots import BotDetector
from service.ingest import AUTOMATED, BOT, HUMAN, kind_of

from ..support import BROWSER_UA

REAL_AGENTS = [
    BROWSER_UA,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; YandexSearch/3.0)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/126.0.0.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
]


def test_linear_matching_decides_as_crawlerdetect_does() -> None:
    """RE2 over crawlerdetect's patterns gives crawlerdetect's own answer: on real agents, on
    an agent built around every plain-text pattern, and on random text."""
    ours, theirs = BotDetector(), CrawlerDetect()
    agents = list(REAL_AGENTS)
    for pattern in CRAWLER_PATTERNS:
        plain = pattern.replace("\\", "")
        if plain.replace(" ", "").replace("/", "").replace(".", "").replace("-", "").isalnum():
            agents.append(f"Mozilla/5.0 (compatible; {plain} x)")
    rng = random.Random(17)
    alphabet = string.ascii_letters + string.digits + " /;()._-"
    agents += ["".join(rng.choices(alphabet, k=rng.randint(1, 300))) for _ in range(2000)]
    differ = [agent for agent in agents if ours.is_crawler(agent) != theirs.is_crawler(agent)]
    assert len(agents) > 3000 and differ == []
    assert sum(ours.is_crawler(agent) for agent in agents) > 1000  # both answers occur


def test_an_over_long_user_agent_is_automated_and_never_read_whole() -> None:
    limit = 512
    cache = ingest._bots.is_crawler
    cache.cache_clear()
    assert kind_of(b"Mozilla/5.0 " + b"a" * 16_000, limit) == AUTOMATED
    assert kind_of(b"x" * (limit + 1), limit) == AUTOMATED
    assert cache.cache_info().currsize == 0  # detection never ran on them
    assert kind_of(b"Mozilla/5.0 " + b"a" * (limit - 12), limit) == HUMAN
    assert kind_of(b"", limit) == BOT
    assert kind_of(b"Googlebot/2.1", limit) == BOT
    assert cache.cache_info().currsize == 2  # keyed by values of at most `limit` characters
