"""Retrieval (dense + full text, fused), prompts, citations and the answer service."""
