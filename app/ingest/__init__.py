"""PDF pages → checksums → chunks → embeddings → atomic upsert into the vector table."""
