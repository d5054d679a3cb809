"""dataset_names: `-d 501` and `-d Dataset501_BUSI`, mismatched names, ambiguous ids, search order."""
from __future__ import annotations

import pytest

from unisegdiff_pipeline.dataset_names import dataset_folder_name, find_dataset_in, parse_dataset_id, \
    resolve_dataset_name
from unisegdiff_pipeline.errors import USDError


@pytest.mark.parametrize("text, value", [("501", 501), (501, 501), (" 7 ", 7), ("007", 7), ("Dataset501_BUSI", 501),
                                         ("Dataset001_a-b_c", 1), ("999", 999)])
def test_parse_dataset_id(text, value):
    assert parse_dataset_id(text) == value


@pytest.mark.parametrize("text, message", [("BUSI", "is not a dataset id"), ("Dataset51_BUSI", "is not a dataset id"),
                                           ("Dataset501_", "is not a dataset id"), ("0", "outside 1..999"),
                                           ("1000", "outside 1..999"), ("-5", "is not a dataset id"),
                                           ("Dataset501_my data", "is not a dataset id")])
def test_parse_dataset_id_errors(text, message):
    with pytest.raises(USDError, match=message):
        parse_dataset_id(text)


def test_dataset_folder_name():
    assert dataset_folder_name(5, "BUSI") == "Dataset005_BUSI"
    assert dataset_folder_name(501, "Colon-Polyp_2") == "Dataset501_Colon-Polyp_2"
    with pytest.raises(USDError, match="'my data'"):
        dataset_folder_name(5, "my data")


def test_resolve_by_id_and_by_name(usd_env):
    (usd_env["raw"] / "Dataset501_BUSI").mkdir()
    assert resolve_dataset_name(501) == "Dataset501_BUSI"
    assert resolve_dataset_name("501") == "Dataset501_BUSI"
    assert resolve_dataset_name("Dataset501_BUSI") == "Dataset501_BUSI"


def test_mismatched_name(usd_env):
    (usd_env["raw"] / "Dataset501_BUSI").mkdir()
    with pytest.raises(USDError) as e:
        resolve_dataset_name("Dataset501_Polyp")
    assert "Dataset501_Polyp" in str(e.value) and "did you mean -d Dataset501_BUSI" in str(e.value)


def test_ambiguous_id(usd_env):
    for name in ("Dataset501_BUSI", "Dataset501_BUSI2"):
        (usd_env["raw"] / name).mkdir()
    with pytest.raises(USDError) as e:
        resolve_dataset_name(501)
    message = str(e.value)
    assert "ambiguous" in message and "Dataset501_BUSI, Dataset501_BUSI2" in message


def test_unknown_id_lists_searched_folders(usd_env):
    (usd_env["raw"] / "Dataset502_Polyp").mkdir()
    with pytest.raises(USDError) as e:
        resolve_dataset_name(501)
    message = str(e.value)
    assert "unknown dataset id 501" in message
    for key in ("raw", "preprocessed", "results"):
        assert str(usd_env[key]) in message


def test_search_order_and_where(usd_env):
    (usd_env["preprocessed"] / "Dataset501_Pre").mkdir()
    (usd_env["results"] / "Dataset502_Res").mkdir()
    assert resolve_dataset_name(501) == "Dataset501_Pre"
    assert resolve_dataset_name(502) == "Dataset502_Res"
    with pytest.raises(USDError, match="unknown dataset id 501"):
        resolve_dataset_name(501, ("raw",))
    (usd_env["raw"] / "Dataset501_Raw").mkdir()
    assert resolve_dataset_name(501) == "Dataset501_Raw"  # raw first


def test_unset_variables(usd_env, monkeypatch):
    (usd_env["preprocessed"] / "Dataset501_Pre").mkdir()
    monkeypatch.delenv("USD_raw")
    assert resolve_dataset_name(501) == "Dataset501_Pre"  # an unset folder matters only if nothing resolves
    with pytest.raises(USDError, match="USD_raw is not set"):
        resolve_dataset_name(501, ("raw",))
    for var in ("USD_preprocessed", "USD_results"):
        monkeypatch.delenv(var)
    with pytest.raises(USDError, match="USD_raw is not set"):
        resolve_dataset_name(501)


def test_find_dataset_in_ignores_files_and_other_names(tmp_path):
    (tmp_path / "Dataset501_File").write_text("not a folder")
    (tmp_path / "Dataset501_bad name").mkdir()
    (tmp_path / ".tmp_Dataset501_BUSI_123").mkdir()
    (tmp_path / "Dataset5010_X").mkdir()
    assert find_dataset_in(tmp_path, 501) is None
    (tmp_path / "Dataset501_BUSI").mkdir()
    assert find_dataset_in(tmp_path, 501) == tmp_path / "Dataset501_BUSI"
    assert find_dataset_in(tmp_path / "missing", 501) is None
