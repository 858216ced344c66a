"""Quality tools: the take score, speaker similarity, the quality guard, tuning and listening tests."""
