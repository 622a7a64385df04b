from tests.api.support import fast_hashing

__all__ = ["fast_hashing"]
