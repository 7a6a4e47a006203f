"""The rules of aggregated health, pure: what an answer means, how statuses roll up."""
