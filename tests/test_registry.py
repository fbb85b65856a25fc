import pytest

from tokkit.errors import UsageError
from tokkit.registry import Registry


def make():
    reg = Registry("encoder")
    reg.register("dinov2-b", lambda **kw: ("dinov2-b", kw), help="DINOv2 base")
    reg.register("dinov2-s", lambda **kw: ("dinov2-s", kw))
    reg.register("timm", lambda arg, **kw: ("timm", arg, kw), prefix=True, help="any timm model")
    return reg


def test_duplicate_names_are_errors():
    reg = make()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("DINOV2-B", lambda: None)


def test_unknown_name_suggests_closest():
    with pytest.raises(UsageError, match="did you mean 'dinov2-b'"):
        make().create("dinov2-bb")


def test_unknown_name_without_close_match_lists_choices():
    with pytest.raises(UsageError, match="choose from: dinov2-b, dinov2-s, timm:"):
        make().create("zzzzzz")


def test_prefix_entries_get_the_rest_of_the_spec():
    assert make().create("timm:vit_small_patch16_224", x=1) == ("timm", "vit_small_patch16_224", {"x": 1})
    with pytest.raises(UsageError, match="needs a value"):
        make().create("timm:")


def test_names_and_pattern():
    reg = make()
    assert reg.names() == ["dinov2-b", "dinov2-s", "timm:"]
    assert reg.names("dinov2-*") == ["dinov2-b", "dinov2-s"]
    assert "timm:resnet50" in reg and "nope" not in reg
