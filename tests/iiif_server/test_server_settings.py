"""Server options from the settings file's [server] table and SHUYING_SERVER_* variables; `config show`.

Order: defaults < [server] in shuying.toml < SHUYING_SERVER_<NAME> < serve's flags. A value
that cannot be used is refused before anything runs, naming the file or variable, the
option and what it takes.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import fields
from pathlib import Path

import click
import pytest
import pyvips
from click.testing import CliRunner

from commands.config import config
from iiif_server.config import (
    OPTION_HELP,
    SERVER_TABLE,
    ServerOptions,
    effective_server_options,
    load_server_options,
    options_table,
)
from iiif_server.serve import fetch, uvicorn_config
from storage_config.settings import (
    SETTINGS,
    TABLES,
    Settings,
    SettingsError,
    env_name,
    load_settings,
)
from tests.iiif_server.helpers import publish_grid

DOC = Path(__file__).resolve().parents[2] / "docs" / "iiif-server.md"
# The tester's own SHUYING_* variables must not leak into the command under test.
CLEAN_ENV: dict[str, str | None] = {env_name(name, table): None for name, table in
                                    [*((s.name, "") for s in SETTINGS), *((f.name, SERVER_TABLE) for f in fields(ServerOptions))]}


def home_with(tmp_path: Path, toml: str) -> Path:
    """A Shuying home whose shuying.toml holds ``toml``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "shuying.toml").write_text(toml, encoding="utf-8")
    return home


def settings_of(home: Path, **environ: str) -> Settings:
    return load_settings(home=str(home), environ=environ)


def test_server_table_of_the_settings_file_sets_options(tmp_path: Path) -> None:
    home = home_with(tmp_path, 'base_url = "http://127.0.0.1:9000"\n\n[server]\nrestricted_max_size = 200\n'
                               'cache_max_bytes = 1_000_000\nlookup_ttl = 2\ntoken_origins = ["https://v.example"]\n'
                               'cache_dir = "~/iiif-cache"\n')
    options = load_server_options(settings_of(home))
    assert (options.restricted_max_size, options.cache_max_bytes, options.lookup_ttl) == (200, 1_000_000, 2.0)
    assert options.token_origins == ("https://v.example",)
    assert options.cache_dir == Path("~/iiif-cache").expanduser()
    assert options.jpeg_quality == ServerOptions().jpeg_quality  # not set: the default


def test_the_server_built_from_settings_uses_the_file_values(tmp_path: Path) -> None:
    home = home_with(tmp_path, f'[server]\nrestricted_max_size = 200\nmax_width = 350\ncache_dir = "{tmp_path / "c"}"\n')
    publish_grid(home / "publish", "open", "p0001", 400, 300)
    publish_grid(home / "publish", "closed", "p0001", 400, 300, access_level="restricted")
    settings = settings_of(home)
    assert json.loads(fetch(settings, "/iiif/3/open~p0001/info.json").body)["maxWidth"] == 350
    reduced = fetch(settings, "/iiif/3/closed~p0001/full/max/0/default.png")
    image = pyvips.Image.new_from_buffer(reduced.body, "")
    assert (reduced.status, image.width, image.height) == (200, 200, 150)
    assert any(path.is_file() for path in (tmp_path / "c").rglob("*"))  # the rendered-image cache is there


def test_a_variable_beats_the_file_and_a_flag_beats_the_variable(tmp_path: Path) -> None:
    home = home_with(tmp_path, "[server]\nworkers = 2\njpeg_quality = 70\n")
    settings = settings_of(home, SHUYING_SERVER_WORKERS="3")
    assert (load_server_options(settings).workers, load_server_options(settings).jpeg_quality) == (3, 70)
    assert load_server_options(settings, workers=4).workers == 4
    assert load_server_options(settings, workers=None).workers == 3  # a flag not given changes nothing
    # serve's uvicorn configuration: the options' workers unless --workers says otherwise.
    assert uvicorn_config(settings, host="127.0.0.1", port=8182).workers == 3
    assert uvicorn_config(settings, host="127.0.0.1", port=8182, workers=5).workers == 5
    sources = {row.name: row.source for row in effective_server_options(settings, workers=4)}
    assert sources["workers"] == "command line"
    assert sources["jpeg_quality"] == str(home / "shuying.toml")
    assert sources["max_age"] == "default"
    assert {row.name: row.source for row in effective_server_options(settings)}["workers"] == "SHUYING_SERVER_WORKERS"


def test_variables_are_converted_to_each_options_type(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, SHUYING_SERVER_MAX_UPSCALE="2.5", SHUYING_SERVER_TOKEN_ORIGINS="https://a, https://b",
                           SHUYING_SERVER_AUTH_DB="", SHUYING_SERVER_SEARCH_DB="/srv/search.sqlite",
                           SHUYING_SERVER_VIEWER_LANGUAGE="en")
    options = load_server_options(settings)
    assert (options.max_upscale, options.token_origins) == (2.5, ("https://a", "https://b"))
    assert (options.auth_db, options.search_db, options.viewer_language) == (None, Path("/srv/search.sqlite"), "en")


@pytest.mark.parametrize(("toml", "environ", "message"), [
    ('[server]\njpeg_quality = "high"\n', {},
     r"^{file}: server option jpeg_quality must be a whole number, got 'high'$"),
    ("[server]\njpeg_quality = 101\n", {}, r"^{file}: server option jpeg_quality must be from 1 to 100, got 101$"),
    ("[server]\ntoken_origins = [1, 2]\n", {}, r"^{file}: server option token_origins must be a list of text"),
    ("[server]\ncache_max_bytes = -1\n", {}, r"^{file}: server option cache_max_bytes must be at least 0"),
    ("", {"SHUYING_SERVER_LOOKUP_TTL": "soon"},
     r"^SHUYING_SERVER_LOOKUP_TTL: server option lookup_ttl must be a number, got 'soon'$"),
    ("", {"SHUYING_SERVER_WORKERS": "0"}, r"^SHUYING_SERVER_WORKERS: server option workers must be from 1 to 64"),
])
def test_a_bad_value_names_its_source_the_option_and_what_it_takes(tmp_path: Path, toml: str, environ: dict,
                                                                     message: str) -> None:
    home = home_with(tmp_path, toml)
    with pytest.raises(SettingsError, match=message.format(file=re.escape(str(home / "shuying.toml")))):
        load_server_options(settings_of(home, **environ))


def test_a_bad_setting_names_its_variable_or_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^SHUYING_OCR_TIMEOUT: ocr_timeout must be a whole number, got 'abc'$"):
        settings_of(tmp_path, SHUYING_OCR_TIMEOUT="abc")
    home = home_with(tmp_path, "base_url = 8182\n")
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(home / 'shuying.toml'))}: base_url must be text"):
        settings_of(home)


def test_unknown_options_are_refused_with_the_known_ones(tmp_path: Path) -> None:
    home = home_with(tmp_path, "[server]\nworkrs = 2\n")
    with pytest.raises(SettingsError, match=r"shuying.toml: unknown server option\(s\) workrs; known: .*workers"):
        load_server_options(settings_of(home))
    with pytest.raises(SettingsError, match=r"^SHUYING_SERVER_CACHE_SIZE: unknown server option\(s\) cache_size; "
                                            r"known: cache_dir, cache_max_bytes"):
        load_server_options(settings_of(tmp_path, SHUYING_SERVER_CACHE_SIZE="1"))


def test_a_setting_written_under_server_is_pointed_to_the_top_level(tmp_path: Path) -> None:
    home = home_with(tmp_path, '[server]\nbase_url = "https://iiif.example"\n')
    with pytest.raises(SettingsError, match=r"base_url: a top-level setting, to put above the \[server\] line"):
        load_server_options(settings_of(home))


def test_the_file_refuses_unknown_top_level_names_and_a_server_that_is_no_table(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"unknown setting\(s\) servre; known: .* and the table\(s\) \[server\]"):
        settings_of(home_with(tmp_path, "[servre]\nworkers = 2\n"))
    with pytest.raises(SettingsError, match=r"shuying.toml: server must be a table"):
        settings_of(home_with(tmp_path, "server = 2\n"))


def test_no_setting_shares_a_variable_with_a_table() -> None:
    # SHUYING_SERVER_WORKERS is [server] workers; a setting named server_workers would read it too.
    assert SERVER_TABLE in TABLES
    assert [s.name for s in SETTINGS if any(s.name.startswith(f"{table}_") for table in TABLES)] == []


def show_group() -> click.Group:
    """The `shuying` group's settings loading (cli.py) with only the `config` commands under it."""

    @click.group()
    @click.option("--home", type=click.Path(path_type=Path), default=None)
    @click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
    @click.pass_context
    def root(ctx: click.Context, home: Path | None, config_file: Path | None) -> None:
        ctx.obj = load_settings(config_file, home=home)

    root.add_command(config)
    return root


def test_config_show_prints_each_value_and_its_source_as_toml(tmp_path: Path) -> None:
    home = home_with(tmp_path, 'organization = "某省图书馆"\n\n[server]\nrestricted_max_size = 800\n')
    result = CliRunner().invoke(show_group(), ["--home", str(home), "config", "show"],
                                env={**CLEAN_ENV, "SHUYING_SERVER_WORKERS": "2"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"# Settings in effect. Settings file read: {home / 'shuying.toml'}"
    assert re.search(rf'^home = "{re.escape(str(home))}" +# command line$', result.output, re.M)
    assert re.search(rf'^organization = "某省图书馆" +# {re.escape(str(home / "shuying.toml"))}$', result.output, re.M)
    assert re.search(r"^workers = 2 +# SHUYING_SERVER_WORKERS$", result.output, re.M)
    assert re.search(r"^jpeg_quality = 85 +# default$", result.output, re.M)
    server = lines.index("[server]  # variables: SHUYING_SERVER_<NAME>")
    assert any(line.startswith("ocr_timeout = 300 ") for line in lines[:server])  # settings first, then [server]
    # The whole output is a valid settings file holding the values in effect.
    shown = tomllib.loads(result.output)
    assert (shown["organization"], shown["server"]["restricted_max_size"]) == ("某省图书馆", 800)
    assert shown["server"]["cache_dir"] == str(home / "cache" / "iiif")


def test_config_show_json_lists_every_setting_and_option(tmp_path: Path) -> None:
    home = home_with(tmp_path, "[server]\ncache_max_bytes = 5000\n")
    result = CliRunner().invoke(show_group(), ["--home", str(home), "config", "show", "--json"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["config_file"] == str(home / "shuying.toml")
    assert [row["name"] for row in shown["settings"]] == [s.name for s in SETTINGS]
    server = {row["name"]: row for row in shown["server"]}
    assert list(server) == [f.name for f in fields(ServerOptions)]
    assert server["cache_max_bytes"] == {"name": "cache_max_bytes", "value": 5000, "source": str(home / "shuying.toml"),
                                         "variable": "SHUYING_SERVER_CACHE_MAX_BYTES",
                                         "help": OPTION_HELP["cache_max_bytes"]}
    assert server["cache_dir"]["value"] == str(home / "cache" / "iiif")  # the default, resolved for this home
    assert server["token_origins"]["value"] == []


def test_config_show_reports_a_bad_value(tmp_path: Path) -> None:
    home = home_with(tmp_path, "[server]\nworkers = \"many\"\n")
    result = CliRunner().invoke(show_group(), ["--home", str(home), "config", "show"], env=CLEAN_ENV)
    assert isinstance(result.exception, SettingsError)
    assert "server option workers must be a whole number, got 'many'" in str(result.exception)


def test_the_docs_list_every_option_with_its_default_variable_and_help() -> None:
    assert options_table() in DOC.read_text(encoding="utf-8")
