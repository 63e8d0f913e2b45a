"""A small news site served by a real nginx on loopback ports, for the discovery tests.

Two servers: the publisher's site (the one origin VIEWCOUNT_SITES lists) and another origin
that nothing may reach; its access log proves that no request went there."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

from .support import end_process, free_port, wait_for_port

ARTICLES = {
    # id: (headline, section, JSON-LD type)
    "ceasefire-talks-resume": ("Ceasefire talks resume in Geneva", "World Politics", "NewsArticle"),
    "budget-vote-delayed": ("Budget vote delayed &amp; MPs fume", "Économie", "Article"),
}
SLOW_PAGE_BYTES = 4096
TRICKLE_BYTES_PER_S = 64
# Pages under /paced/ take a few seconds, well within a fetch's time limit: long enough that
# two processes see the same article pending at once (tests/test_pending.py).
PACED_BYTES_PER_S = 2048
BIG_PAGE_BYTES = 5 * 1024 * 1024


def json_ld_page(article: str, headline: str, section: str, kind: str, origin: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{headline} | The Daily Example</title>
<link rel="canonical" href="/news/{article}">
<meta property="og:type" content="article">
<meta property="og:title" content="OG title that JSON-LD wins over">
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "WebSite",
  "name": "The Daily Example"}}</script>
<script type="application/ld+json">{{ this block is broken JSON }}</script>
<script type="application/ld+json">
{{"@context": "https://schema.org", "@graph": [
  {{"@type": "Organization", "name": "The Daily Example"}},
  {{"@type": ["{kind}"], "headline": "{headline}", "articleSection": ["{section}", "Europe"],
    "author": [{{"@type": "Person", "name": "Ana Reporter"}}],
    "datePublished": "2026-11-27T09:35:00+02:00",
    "mainEntityOfPage": {{"@id": "{origin}/news/{article}"}}}}
]}}
</script>
</head><body><h1>{headline}</h1><p>Story text.</p></body></html>
"""


OG_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Flood warnings issued</title>
<meta property="og:type" content="article">
<meta property="og:title" content="Flood warnings issued for the river valley">
<meta property="og:url" content="{origin}/news/flood-warnings-issued">
<meta property="article:section" content="Weather">
<meta property="article:author" content="https://news.example.com/authors/bo">
<meta name="author" content="Bo Weather">
<meta property="article:published_time" content="2026-11-28T06:00:00Z">
</head><body><p>Rain.</p></body></html>
"""

HOME_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>The Daily Example</title>
<meta property="og:type" content="website"><meta property="og:title" content="The Daily Example">
<script type="application/ld+json">{"@type": "WebSite", "name": "The Daily Example"}</script>
</head><body><a href="/news/ceasefire-talks-resume">Ceasefire</a></body></html>
"""

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>The Daily Example</title><link>{origin}/</link>
<item><title>Ceasefire talks resume in Geneva</title>
  <link>{origin}/news/ceasefire-talks-resume</link><author>ann@example.com (Ann Lee)</author>
  <category>World Politics</category><pubDate>Fri, 27 Nov 2026 07:35:00 GMT</pubDate></item>
<item><title>Budget vote delayed</title><link>{origin}/news/budget-vote-delayed?utm=rss</link>
  <dc:creator>Олена Коваль</dc:creator>
  <category>Économie</category><pubDate>Fri, 27 Nov 2026 10:00:00 +0100</pubDate></item>
<item><title>Someone else's story</title><link>https://elsewhere.example/news/other</link></item>
<item><title>The front page</title><link>{origin}/</link></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>The Daily Example</title>
<id>urn:example:feed</id><updated>2026-11-28T06:00:00Z</updated>
<entry><title type="html">Flood warnings &lt;b&gt;issued&lt;/b&gt;</title>
  <link rel="alternate" href="{origin}/news/flood-warnings-issued"/>
  <id>urn:example:flood</id><updated>2026-11-28T06:00:00Z</updated>
  <published>2026-11-28T06:00:00Z</published>
  <category term="weather" label="Weather"/><author><name>Bo Weather</name></author></entry>
</feed>
"""

NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>{origin}/news/ceasefire-talks-resume</loc>
  <news:news><news:publication><news:name>The Daily Example</news:name>
  <news:language>en</news:language></news:publication>
  <news:publication_date>2026-11-27T09:35:00+02:00</news:publication_date>
  <news:title>Ceasefire talks resume in Geneva</news:title></news:news></url>
<url><loc>{origin}/news/plain-sitemap-entry</loc><lastmod>2026-11-26</lastmod></url>
</urlset>
"""

SITEMAP_INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{origin}/sitemaps/news.xml</loc></sitemap>
<sitemap><loc>{origin}/sitemaps/missing.xml</loc></sitemap>
<sitemap><loc>{other}/sitemaps/news.xml</loc></sitemap>
</sitemapindex>
"""

XML_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title></channel></rss>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&xxe;</title></channel></rss>
"""

NOT_XML = "<html><body><p>Feed moved<br></body></html>\n"

CONFIG = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
{user}
events {{ worker_connections 64; }}
http {{
  client_body_temp_path {root}/tmp/body;
  proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
  types {{ text/html html; application/rss+xml rss; application/atom+xml atom;
           application/xml xml; }}
  default_type text/html;
  # The site's requests, twice: nginx's own combined format and JSON lines (as deploy/nginx
  # suggests), for the access-log import tests; the JSON one shows the conditional headers.
  log_format views escape=json '{{"time":"$time_iso8601","remote_addr":"$remote_addr",'
    '"request_method":"$request_method","request_uri":"$request_uri","status":$status,'
    '"body_bytes_sent":$body_bytes_sent,"http_referer":"$http_referer",'
    '"http_user_agent":"$http_user_agent","if_none_match":"$http_if_none_match",'
    '"if_modified_since":"$http_if_modified_since"}}';
  server {{
    listen 127.0.0.1:{site_port};
    access_log {root}/site-access.log combined;
    access_log {root}/site-access.json views;
    root {root}/site;
    location = / {{ try_files /index.html =404; }}
    location = /moved {{ return 301 /news/ceasefire-talks-resume; }}
    location = /away {{ return 302 {other}/news/elsewhere; }}
    location = /loop {{ return 302 /loop; }}
    location = /slow {{ limit_rate {trickle}; }}
    location /paced/ {{ limit_rate {paced}; }}
    location = /gzip-bomb {{ add_header Content-Encoding gzip; }}
  }}
  server {{
    listen 127.0.0.1:{other_port};
    access_log {root}/other-access.log;
    root {root}/other;
  }}
}}
"""


class NewsSite:
    """``with NewsSite(tmp) as site``: nginx serving the site and the other origin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.site_port, self.other_port = free_port(), free_port()
        self.origin = f"http://127.0.0.1:{self.site_port}"
        self.other = f"http://127.0.0.1:{self.other_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return self.origin + path

    def other_hits(self) -> list[str]:
        """Requests the origin that VIEWCOUNT_SITES does not list has received."""
        log = self.root / "other-access.log"
        return log.read_text().splitlines() if log.exists() else []

    def json_hits(self, path: str) -> list[dict[str, Any]]:
        """The site's requests for ``path`` as its JSON access log has them, oldest first."""
        log = self.root / "site-access.json"
        lines = log.read_text().splitlines() if log.exists() else []
        hits = [json.loads(line) for line in lines]
        return [hit for hit in hits if hit["request_uri"] == path]

    def site_hits(self, path: str) -> int:
        log = self.root / "site-access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return sum(f'"GET {path} ' in line for line in lines)

    def __enter__(self) -> NewsSite:
        self._write_files()
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        root = str(self.root)
        command = [binary, "-e", f"{root}/error.log", "-p", root, "-c", f"{root}/nginx.conf"]
        self.process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # -e: its errors go to error.log
        )
        try:
            wait_for_port(self.site_port, 10)
            wait_for_port(self.other_port, 10)
        except TimeoutError:
            end_process(self.process)
            raise RuntimeError(f"nginx did not start: {self._errors()}") from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        end_process(self.process, 10)

    def _errors(self) -> str:
        log = self.root / "error.log"
        return log.read_text() if log.exists() else "(no error log)"

    def _write_files(self) -> None:
        site, other = self.root / "site", self.root / "other"
        for folder in ("news", "feeds", "sitemaps", "paced"):
            (site / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        (other / "news").mkdir(parents=True, exist_ok=True)
        (other / "news" / "elsewhere").write_text(
            json_ld_page("elsewhere", "Off", "x", "Article", "")
        )
        values = {"origin": self.origin, "other": self.other}
        for article, (headline, section, kind) in ARTICLES.items():
            page = json_ld_page(article, headline, section, kind, self.origin)
            (site / "news" / article).write_text(page)
        (site / "news" / "flood-warnings-issued").write_text(OG_PAGE.format(**values))
        (site / "index.html").write_text(HOME_PAGE)
        (site / "feeds" / "news.rss").write_text(RSS.format(**values))
        (site / "feeds" / "news.atom").write_text(ATOM.format(**values))
        (site / "feeds" / "bomb.rss").write_text(XML_BOMB)
        (site / "feeds" / "xxe.rss").write_text(EXTERNAL_ENTITY)
        (site / "feeds" / "broken.rss").write_text(NOT_XML)
        # An RSS body under a name without extension: nginx says text/html.
        (site / "feeds" / "wrong-type").write_text(RSS.format(**values))
        (site / "feeds" / "home.xml").write_text("<?xml version='1.0'?><html><body/></html>")
        (site / "sitemaps" / "news.xml").write_text(NEWS_SITEMAP.format(**values))
        (site / "sitemaps" / "index.xml").write_text(SITEMAP_INDEX.format(**values))
        filler = "<p>" + "x" * 1000 + "</p>\n"
        (site / "slow").write_text(OG_PAGE.format(**values) + filler * (SLOW_PAGE_BYTES // 1000))
        big = HOME_PAGE + filler * (BIG_PAGE_BYTES // len(filler) + 1)
        (site / "news" / "big-story").write_text(big)
        (site / "gzip-bomb").write_bytes(gzip.compress(b"<p>" + b"0" * (50 * 1024 * 1024)))
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read the tmp folder
        (self.root / "nginx.conf").write_text(
            CONFIG.format(
                root=self.root,
                user=user,
                site_port=self.site_port,
                other_port=self.other_port,
                other=self.other,
                trickle=TRICKLE_BYTES_PER_S,
                paced=PACED_BYTES_PER_S,
            )
        )
