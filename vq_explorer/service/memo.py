"""Results computed once per model and kept exactly as long as the model is: a lab model the catalog forgets
takes its cached views with it, where an `lru_cache` keyed on the model would keep it (and its weights) alive."""

import functools
import threading
import weakref


def per_model(fn):
    """Cache `fn(model)` on the model's identity, holding the model weakly. The cached value must not refer to
    the model, or the model would never be collected."""
    cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    @functools.wraps(fn)
    def cached(model):
        with lock:
            if model in cache:
                return cache[model]
        value = fn(model)   # outside the lock: two first calls may both compute; either result is right
        with lock:
            return cache.setdefault(model, value)

    cached.cache = cache
    return cached
