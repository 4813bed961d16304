"""rhoml.config: strict typed sections, ranges, paths relative to the config file, overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rhoml.config import ConfigError, apply_overrides, dump_toml, load_config, option


@dataclass
class Section:
    n: int = option(3, min=1)
    lr: float = option(1e-3, min=0.0, exclusive_min=True)
    mode: str = option("a", choices=("a", "b"))
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    data: str = option("", path=True)
    must: str = option("", must_exist=True)
    flag: bool = False


def write(tmp_path, text: str):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[s]\nnn = 1\n", "c.toml: [s]: unknown key(s) nn"),
        ('[s]\nlr = "fast"\n', "c.toml: [s].lr: expected a number, got 'fast'"),
        ("[s]\nn = 2.5\n", "c.toml: [s].n: expected an integer"),
        ("[s]\nn = -4\n", "c.toml: [s].n: must be ≥ 1, got -4"),
        ("[s]\nlr = 0\n", "c.toml: [s].lr: must be > 0.0, got 0"),
        ('[s]\nmode = "c"\n', "c.toml: [s].mode: must be one of 'a', 'b', got 'c'"),
        ("[s]\nflag = 1\n", "c.toml: [s].flag: expected true/false"),
        ('[s]\nmust = "nope.txt"\n', "c.toml: [s].must: no such file or folder"),
        ("[t]\n", "c.toml: unknown section(s) t"),
        ("[s\n", "c.toml: "),
    ],
)
def test_every_error_is_one_line_naming_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text), {"s": Section})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("x")
    p = tmp_path / "sub" / "c.toml"
    p.write_text('[s]\ndata = "data.rhoml"\nmust = "x.txt"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config(p, {"s": Section})["s"]
    assert cfg.data == str(tmp_path / "sub" / "data.rhoml")
    assert cfg.must == str(tmp_path / "sub" / "x.txt")


def test_overrides_parse_toml_values_and_are_checked(tmp_path):
    p = write(tmp_path, "[s]\nn = 2\n")
    cfg = load_config(p, {"s": Section}, overrides=["s.n=7", "s.sizes=[4, 5]", "s.mode=b"])["s"]
    assert (cfg.n, cfg.sizes, cfg.mode) == (7, [4, 5], "b")
    with pytest.raises(ConfigError, match=r"\[s\].n: must be ≥ 1"):
        load_config(p, {"s": Section}, overrides=["s.n=0"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_overrides({}, ["n=3"])


def test_resolved_config_round_trips_through_toml(tmp_path):
    import tomllib

    from rhoml.config import as_dict

    cfg = load_config(write(tmp_path, "[s]\nn = 5\n"), {"s": Section})
    text = dump_toml(as_dict(cfg))
    assert tomllib.loads(text)["s"] == {
        "n": 5, "lr": 1e-3, "mode": "a", "sizes": [1, 2], "data": "", "must": "", "flag": False,
    }  # fmt: skip
