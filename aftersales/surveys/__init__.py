"""Satisfaction surveys (满意度回访): signed links, ratings, and their events."""
