"""Pagewise: self-hosted RAG over PDFs with page-level citations."""
