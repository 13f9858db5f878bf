import gc

from slipway.gateway.tuning import freeze_startup_heap


def test_freezing_the_startup_heap_takes_live_objects_out_of_collections() -> None:
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
