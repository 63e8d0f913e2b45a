"""Catalog discovery: the publisher's own pages, feeds and sitemaps, and its access logs."""
