"""Luigi's own config files (./luigi.cfg where the command runs, LUIGI_CONFIG_PATH) win over the project's luigi.cfg,
which gives the defaults wherever the command runs."""

import subprocess
import sys

import pytest

SHOW = (
    "from pipeline import config; import luigi; "
    "print(config.incremental(), luigi.configuration.get_config().get('worker', 'keep_alive'), config.warehouse().database)"
)


def _settings(tmp_path, how: str) -> tuple[dict, str]:
    mine = "[sources]\nincremental = false\n[worker]\nkeep_alive = true\n"
    env = {"PATH": "/usr/bin:/bin"}
    if how == "LUIGI_CONFIG_PATH":
        (tmp_path / "mine.cfg").write_text(mine)
        env["LUIGI_CONFIG_PATH"] = str(tmp_path / "mine.cfg")
    else:
        (tmp_path / "luigi.cfg").write_text(mine)
    return env, str(tmp_path)


@pytest.mark.parametrize("how", ["LUIGI_CONFIG_PATH", "./luigi.cfg"])
def test_the_users_own_settings_win_and_the_projects_fill_in_the_rest(tmp_path, how):
    env, cwd = _settings(tmp_path, how)
    shown = subprocess.run([sys.executable, "-c", SHOW], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["False", "true", "warehouse"], shown.stderr


def test_without_settings_of_their_own_the_projects_apply(tmp_path):
    shown = subprocess.run(
        [sys.executable, "-c", SHOW],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == ["True", "false", "warehouse"], shown.stderr
