"""Active learning: the suggestive ensemble, pool scoring, max-cover selection, named strategies."""
