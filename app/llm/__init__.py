"""LLM providers (Gemini, Groq, OpenAI, OpenRouter, local GGUF) behind one priority router."""
