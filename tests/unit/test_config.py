from __future__ import annotations

from pathlib import Path

import pytest

from message_export.config import CONFIG_ENV, ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
VALID = (REPO / "include/config/message_export.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_packaged_config_loads_with_documented_values():
    config = load_config(REPO / "include/config/message_export.yaml")
    assert str(config.start_date) == "2024-10-01"
    assert config.connections.elasticsearch == "elasticsearch_default"
    assert config.elasticsearch.related == {
        "history": "message_history",
        "status": "message_status",
        "audit": "message_audit",
    }
    assert (config.s3.bucket, config.s3.prefix, config.batch_size, config.max_attempts) == (
        "message-archive",
        "messages",
        500,
        5,
    )


def test_env_var_overrides_path(tmp_path, monkeypatch):
    path = write(tmp_path, VALID.replace("batch_size: 500", "batch_size: 42"))
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_config().batch_size == 42


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t + "\nbatchsize: 3\n", "unknown key 'batchsize'"),
        (lambda t: t.replace("batch_size: 500", "batch_size: lots"), "key 'batch_size'"),
        (lambda t: t.replace("start_date: 2024-10-01", "start_date: someday"), "key 'start_date'"),
        (lambda t: t.replace("bucket: message-archive", "bucket: Not_A_Bucket"), "key 's3.bucket'"),
        (
            lambda t: t.replace("message_index: messages", "message_index: 'Bad Index'"),
            "key 'elasticsearch.message_index'",
        ),
        (lambda t: t.replace("  bucket: message-archive\n", ""), "missing key 's3.bucket'"),
        (lambda t: t.replace("max_attempts: 5", "max_attempts: 0"), "key 'max_attempts'"),
    ],
)
def test_invalid_config_names_the_key_and_the_file(tmp_path, change, message):
    path = write(tmp_path, change(VALID))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [unclosed"))
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- a list"))


def test_kms_key_requires_kms_encryption(tmp_path):
    text = VALID.replace("  prefix: messages", "  prefix: messages\n  kms_key_id: abc")
    with pytest.raises(ConfigError, match="kms_key_id"):
        load_config(write(tmp_path, text))


def test_packaged_config_keeps_ninety_days_of_message_rows():
    retention = load_config(REPO / "include/config/message_export.yaml").retention
    assert (retention.enabled, retention.keep_days, retention.chunk_rows) == (True, 90, 5000)


def test_config_without_retention_section_keeps_every_row(tmp_path):
    text = VALID.split("\nretention:")[0]
    retention = load_config(write(tmp_path, text)).retention
    assert retention.keep_days is None and not retention.enabled


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "key 'retention.keep_days': Value error, must be a whole number of days >= 1 (to keep every row"),
        ("-5", "(got -5)"),
        ("true", "must be a whole number of days"),
        ("ninety", "key 'retention.keep_days': Input should be a valid integer"),
    ],
)
def test_bad_keep_days_is_named_with_its_value_and_the_fix(tmp_path, value, expected):
    path = write(tmp_path, VALID.replace("keep_days: 90", f"keep_days: {value}"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert expected in str(error.value) and str(path) in str(error.value)


def test_unknown_retention_key_and_tiny_chunk_are_errors(tmp_path):
    path = write(tmp_path, VALID.replace("chunk_rows: 5000", "chunk_rows: 5\n  keep_weeks: 3"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "unknown key 'retention.keep_weeks'" in str(error.value)
    assert "key 'retention.chunk_rows': Input should be greater than or equal to 100 (got 5)" in str(error.value)


def test_search_load_limits_default_and_are_read(tmp_path):
    packaged = load_config(REPO / "include/config/message_export.yaml").elasticsearch.throttle_limits()
    assert (packaged.max_requests_per_second, packaged.max_concurrent_requests) == (20, 4)
    assert (packaged.slowdown_factor, packaged.min_requests_per_second, packaged.recovery_requests) == (0.5, 1, 50)
    off = VALID.replace("max_requests_per_second: 20", "max_requests_per_second: null").replace(
        "max_concurrent_requests: 4", "max_concurrent_requests: null"
    )
    assert not load_config(write(tmp_path, off)).elasticsearch.throttle_limits().enabled


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max_requests_per_second: 20", "max_requests_per_second: 0", "key 'elasticsearch.max_requests_per_second'"),
        ("max_requests_per_second: 20", "max_requests_per_second: fast", "(got 'fast')"),
        ("max_concurrent_requests: 4", "max_concurrent_requests: 0", "key 'elasticsearch.max_concurrent_requests'"),
        ("slowdown_factor: 0.5", "slowdown_factor: 1.5", "key 'elasticsearch.slowdown_factor'"),
        ("recovery_requests: 50", "recovery_requests: 0", "key 'elasticsearch.recovery_requests'"),
        (
            "min_requests_per_second: 1",
            "min_requests_per_second: 30",
            "min_requests_per_second (30) is above max_requests_per_second (20)",
        ),
    ],
)
def test_bad_search_load_limits_name_the_key_and_value(tmp_path, old, new, message):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_process_batch_caps_default_to_airflows_own_and_are_read(tmp_path):
    from message_export.config import BatchTaskSettings, load_batch_task_settings

    unset = BatchTaskSettings(pool=None, max_active_tis_per_dagrun=None)
    assert load_config(write(tmp_path, VALID)).process_batch == unset
    assert load_batch_task_settings(write(tmp_path, VALID.split("\n# How many process_batch tasks")[0])) == unset
    path = write(
        tmp_path,
        VALID.replace("  pool: null", "  pool: message_export").replace(
            "max_active_tis_per_dagrun: null", "max_active_tis_per_dagrun: 10"
        ),
    )
    capped = BatchTaskSettings(pool="message_export", max_active_tis_per_dagrun=10)
    assert load_config(path).process_batch == load_batch_task_settings(path) == capped
    # what the DAG passes to @task: only the caps that are set (pool=None would leave a mapped task without a pool)
    assert unset.task_arguments() == {}
    assert capped.task_arguments() == {"pool": "message_export", "max_active_tis_per_dagrun": 10}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  pool: null", "  pool: ''", "key 'process_batch.pool'"),
        ("  pool: null", "  pool: ' spaced '", "leading or trailing spaces"),
        (
            "max_active_tis_per_dagrun: null",
            "max_active_tis_per_dagrun: 0",
            "key 'process_batch.max_active_tis_per_dagrun'",
        ),
        ("  pool: null", "  pools: x", "unknown key 'process_batch.pools'"),
    ],
)
def test_bad_process_batch_caps_name_the_key(tmp_path, old, new, message):
    from message_export.config import load_batch_task_settings

    path = write(tmp_path, VALID.replace(old, new))
    for load in (load_config, load_batch_task_settings):
        with pytest.raises(ConfigError) as error:
            load(path)
        assert message in str(error.value) and str(path) in str(error.value)
