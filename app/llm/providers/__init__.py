"""One small adapter per provider SDK; each translates its SDK's failures into ProviderError types."""
