"""The benchmark harness: viewcount's hot paths against the raw ASGI limit and a naive version."""
