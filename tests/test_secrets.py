"""No secret reaches the model: 50+ planted secrets, every stage, the request bodies a real server receives.

The secrets sit where a person leaves them: in variables (plain, in dicts, lists, DataFrame columns, a Series),
in recent cells run in a real IPython shell (every assignment form: annotated, triple-quoted, %env,
os.environ, !command options, pairs, dict literals), in the failing cell %tinyml_fix sends, in its traceback,
and in a Regenerate note. Each stage then asks the loopback server, and neither a secret nor the first 12
characters of one may be in any body it received; ordinary data (numbers, paths, model names) must be.
"""
from __future__ import annotations

import json
import random
import string

import numpy as np
import pytest

from jupyter_tinyml.notebook.redaction import REDACTED, is_secret, redact, redact_prompt

_RANDOM = random.Random(12)
_BASE62 = string.ascii_letters + string.digits


def _random(n: int, alphabet: str = _BASE62) -> str:
    return "".join(_RANDOM.choice(alphabet) for _ in range(n))


def _word_password(tag: str) -> str:
    """A password a person would choose: words and digits, nothing a key pattern knows (the name must tell)."""
    return f"Pw{tag}{_RANDOM.choice(['Horse', 'Maple', 'River', 'Tiger'])}{_RANDOM.randrange(10**6):06d}"


SECRETS: dict[str, str] = {}  # label -> the secret value that must never be sent


def plant(label: str, value: str) -> str:
    SECRETS[label] = value
    return value


# --- key-shaped values under ordinary names (the shape must tell) --------------------------------------------
OPENAI = plant("openai", "sk-proj-" + _random(40))
ANTHROPIC = plant("anthropic", "sk-ant-api03-" + _random(40))
GITHUB = plant("github", "ghp_" + _random(36))
SLACK_BOT = plant("slack bot", "xoxb-" + _random(12, string.digits) + "-" + _random(24))
AWS_ID = plant("aws id", "AKIA" + _random(16, string.ascii_uppercase + string.digits))
AWS_SECRET = plant("aws secret", _random(12) + "/" + _random(14) + "+" + _random(12))  # 40 chars, base64
HF = plant("hf", "hf_" + _random(34))
JWT = plant("jwt", "eyJhbGciOiJIUzI1NiJ9." + _random(30) + "." + _random(20))
HEX = plant("hex token", _random(40, "0123456789abcdef"))
CUT_KEY = plant("cut sk-", "sk-" + _random(9))  # a preview that cut a key short still starts like one
PEM_BODY = plant("pem body", "MIIEpAIBAAKCAQEA" + _random(48))
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{plant('pem line 2', _random(64))}\n-----END RSA PRIVATE KEY-----"
URL_PASSWORD = plant("url password", _word_password("Url"))
SLACK_HOOK_TOKEN = plant("slack hook path", "T0" + _random(8) + "/B0" + _random(8) + "/" + _random(24))
DISCORD_HOOK_TOKEN = plant("discord hook path", _random(18, string.digits) + "/" + _random(30))
DSN_PASSWORD = plant("dsn in dict", _word_password("Dsn"))
LIST_KEY = plant("key in a list", "sk-" + _random(30))
FRAME_KEY = plant("key in a frame cell", "ghp_" + _random(36))
GOOGLE = plant("google", "AIza" + _random(35))

# --- plain words under secret names (the name must tell) -----------------------------------------------------
NS_PASSWORD = plant("db_password variable", _word_password("Ns"))
DICT_PASSWORD = plant("dict password", _word_password("Dict"))
DICT_KEY = plant("dict api_key", _word_password("Dkey"))
COLUMN_PASSWORDS = [plant(f"password column {i}", _word_password(f"Col{i}")) for i in range(3)]
COLUMN_KEYS = [plant(f"api_key column {i}", _word_password(f"Ckey{i}")) for i in range(3)]
SERIES_TOKENS = [plant(f"token series {i}", _word_password(f"Ser{i}")) for i in range(3)]
PAIR_PASSWORD = plant("credentials pairs (variable)", _word_password("Pair"))

# --- recent cells, run in the shell --------------------------------------------------------------------------
CELL_SECRETS = {
    "annotated": _word_password("Ann"),
    "triple line 1": _word_password("Tri1"),
    "triple line 2": _word_password("Tri2"),
    "env magic": _word_password("Env"),
    "env magic, space form": _word_password("Env2"),
    "os.environ": _word_password("Osenv"),
    "shell option": _word_password("Opt"),
    "shell -u": _word_password("Curl"),
    "pairs": _word_password("Pairs"),
    "dict literal": _word_password("Lit"),
    "dict literal 2": _word_password("Lit2"),
    "bearer header": _random(24),
    "keyword argument": _word_password("Kw"),
    "user_pw": _word_password("Upw"),
    "DB_PASS": _word_password("Dbp"),
    "url in a cell": _word_password("Curl2"),
    "webhook in a cell": _random(24),
    "pem in a cell": _random(48),
    "multi-line dict": _word_password("Multi"),
    "setdefault": _word_password("Setd"),
    "aws secret in a cell": _random(20) + "/" + _random(19),
}
for _label, _value in CELL_SECRETS.items():
    plant(_label, _value)
S = CELL_SECRETS
CELLS = [
    f'db_password: str = "{S["annotated"]}"\nconfig_name = "baseline"',
    f'API_TOKEN = """\n{S["triple line 1"]}\n{S["triple line 2"]}\n"""',
    f'%env DB_PASSWORD={S["env magic"]}',
    f'%env SMTP_PASS {S["env magic, space form"]}',
    f'import os\nos.environ["DB_PASS_X"] = "{S["os.environ"]}"\n'
    f'os.environ.setdefault("API_KEY_X", "{S["setdefault"]}")',
    f'!true --password={S["shell option"]} --verbose\n!true -u alice:{S["shell -u"]} http://localhost',
    f'pairs_credentials = [("me", "{S["pairs"]}")]',
    f'settings = {{"password": "{S["dict literal"]}", "client_secret": "{S["dict literal 2"]}", "epochs": 12}}',
    f'headers = {{"Authorization": "Bearer {S["bearer header"]}"}}\n'
    f'def login(**kwargs): pass\nlogin(token="{S["keyword argument"]}")',
    f"user_pw = '{S['user_pw']}'\nDB_PASS = '{S['DB_PASS']}'",
    f'dsn = "postgresql://admin:{S["url in a cell"]}@db.example.com:5432/prod"\n'
    f'alert = "https://hooks.slack.com/services/T0AAA/B0BBB/{S["webhook in a cell"]}"',
    f'cert = """-----BEGIN PRIVATE KEY-----\n{S["pem in a cell"]}\n-----END PRIVATE KEY-----"""',
    f'smtp_settings = dict(\n    host="smtp.example.com",\n    password="{S["multi-line dict"]}",\n)',
    f'aws_secret_access_key = "{S["aws secret in a cell"]}"',
]

# --- the failing cell, its traceback, the Regenerate note ----------------------------------------------------
FAIL_PASSWORD = plant("failing cell password", _word_password("Fail"))
FAIL_KEY = plant("failing cell key", "sk-" + _random(32))
TRACE_PASSWORD = plant("traceback user:password@host", _word_password("Trace"))
FAILING_CELL = (
    f'mail_password = "{FAIL_PASSWORD}"\nclient_key = "{FAIL_KEY}"\n'
    f'raise ConnectionError("could not connect to admin:{TRACE_PASSWORD}@db.example.com:5432")'
)
NOTE_PASSWORD = plant("note password", _word_password("Note"))
NOTE_KEY = plant("note key", "sk-" + _random(30))
NOTE = f"it must log in with password={NOTE_PASSWORD} and the key {NOTE_KEY}"
REQUEST_KEY = plant("request key", "ghp_" + _random(36))

STAGE_ANSWERS = {
    "prep": "```python\nx_small = x_train[:10]\n```",
    "train": "```python\nprint('train')\n```",
    "convert": "```python\nprint('convert')\n```",
    "deploy": "```cpp\nvoid setup() {}\nvoid loop() {}\n```",
}
# Ordinary data that must arrive whole: the redaction must not eat numbers, paths, names or short words.
ORDINARY = ["data/train_images_2024.csv", "mobilenet_v2_0.35_96", "0.00123", "37", "config_name", "baseline",
            "smtp.example.com", "x_train", "label", "epochs", "db.example.com", "alice", "DB_PASS_X"]


def namespace() -> dict[str, object]:
    import pandas as pd
    frame = pd.DataFrame({
        "user": ["ann", "bob", "cy"], "password": COLUMN_PASSWORDS, "api_key": COLUMN_KEYS,
        "label": [0, 1, 0], "note": ["ok", FRAME_KEY, "fine"],
    })
    return {
        "blob_a": OPENAI, "blob_b": ANTHROPIC, "blob_c": GITHUB, "blob_d": SLACK_BOT, "blob_e": AWS_ID,
        "blob_f": AWS_SECRET, "blob_g": HF, "blob_h": JWT, "blob_i": HEX, "preview": CUT_KEY, "cert_text": PEM,
        "blob_j": GOOGLE, "db_url": f"postgresql://admin:{URL_PASSWORD}@db.example.com/prod",
        "notify": f"https://hooks.slack.com/services/{SLACK_HOOK_TOKEN}",
        "chat_hook": f"https://discord.com/api/webhooks/{DISCORD_HOOK_TOKEN}",
        "db_password": NS_PASSWORD,
        "cfg": {"host": "localhost", "password": DICT_PASSWORD, "api_key": DICT_KEY, "epochs": 12,
                "dsn": f"mysql://root:{DSN_PASSWORD}@db.example.com/x"},
        "items": ["hello", LIST_KEY, 3],
        "credentials": [("me", PAIR_PASSWORD)],
        "users": frame,
        "tokens": pd.Series(SERIES_TOKENS, name="token"),
        "x_train": np.zeros((20, 4), np.float32),
        "csv_path": "data/train_images_2024.csv",
        "model_name": "mobilenet_v2_0.35_96",
        "learning_rate": 0.00123,
        "n_epochs": 37,
        "tflite_model": b"\x1c\x00\x00\x00TFL3" + bytes(60),  # the model deploy needs (only its summary is read)
    }


def leaks(text: str) -> list[str]:
    """The labels of the secrets found in `text`, whole or by their first 12 characters."""
    return [label for label, value in SECRETS.items() if value in text or value[:12] in text]


def sent_text(body: bytes) -> str:
    """A request body as the provider reads it: the raw JSON and the messages' text (JSON escapes undone)."""
    messages = json.loads(body)["messages"]
    return body.decode("utf-8", "replace") + "\n" + "\n".join(str(m.get("content", "")) for m in messages)


def test_at_least_fifty_distinct_secrets_are_planted():
    assert len(SECRETS) >= 50
    assert len({value[:12] for value in SECRETS.values()}) == len(SECRETS)


def test_no_secret_reaches_the_server_from_any_stage(shell, chat_server, monkeypatch):
    for variable in ("DB_PASSWORD", "SMTP_PASS", "DB_PASS_X", "API_KEY_X"):
        monkeypatch.delenv(variable, raising=False)  # %env and os.environ in the cells set them in this process
    magics = shell.magics_manager.registry["TinyMLMagics"]
    settings = magics.settings
    settings.model, settings.api_base = "openai/test-coder", chat_server.base_url
    settings.token_budget, settings.recent_cells = 60_000, 30  # everything renders: nothing hides by being cut
    settings.board = "nano33ble"
    shell.user_ns.update(namespace())
    for cell in CELLS:
        assert shell.run_cell(cell, store_history=True).success, cell
    assert not shell.run_cell(FAILING_CELL, store_history=True).success

    for stage, answer in STAGE_ANSWERS.items():
        chat_server.answer(answer)
        shell.run_cell(f"%%tinyml_{stage} --no-insert\nuse x_train and {csv_path_words()}; my token is {REQUEST_KEY}\n")
    chat_server.answer("```python\nprint('fixed')\n```")
    shell.run_line_magic("tinyml_fix", "--no-insert")
    for stage, answer in STAGE_ANSWERS.items():
        chat_server.answer(answer)
        magics.regenerate(f"cell-{stage}", note=NOTE, stage=stage, request=f"use x_train for {stage}")

    bodies = [sent_text(body) for body in chat_server.raw_bodies]
    sent_stages = [json.loads(body)["messages"][0]["content"] for body in chat_server.raw_bodies]
    assert len(bodies) >= 9, "every stage and every Regenerate must have reached the server"
    assert all(len(s) > 0 for s in sent_stages)
    for text in bodies:
        assert leaks(text) == []
    everything = "\n".join(bodies)
    for ordinary in ORDINARY:
        assert ordinary in everything, ordinary
    # what was sent still says where the secrets were, so the model can write code that reads them
    assert "db_password: str = \"<redacted>\"" in everything and "password=<redacted>" in everything
    assert "admin:<redacted>@db.example.com" in everything and "Reviewer's note" in everything
    assert "raise ConnectionError" in everything and "Fix this cell" in everything


def csv_path_words() -> str:
    return "data/train_images_2024.csv with label column"


@pytest.mark.parametrize("value", [OPENAI, CUT_KEY, AWS_SECRET, PEM, HEX, JWT, GOOGLE,
                                   f"https://user:{URL_PASSWORD}@host/x",
                                   f"https://discord.com/api/webhooks/{DISCORD_HOOK_TOKEN}"])
def test_key_shaped_values_are_secret_whatever_their_name(value):
    assert is_secret("blob", value)
    assert leaks(redact(f"x = {value!r}\nprint(x)")) == []


@pytest.mark.parametrize("source", [
    'forward_pass = 3\npw_conv = layers.Conv2D(32, 1)\nfor key in stats: print(key, "mean")',
    'df = pd.read_csv("data/train_images_2024.csv")\nmodel = "openai/gpt-4o-mini"; lr = 0.001',
    "path = '/home/user/data/MNIST/raw/train-images-idx3-ubyte'\nn = 123456789",
    "tok = Tokenizer(vocab='bert-base-uncased', max_tokens=512)\nsk_learn = 'scikit-learn'",
    "!pip install tensorflow==2.16.1 --quiet\n%env CUDA_VISIBLE_DEVICES=0",
    "The person's note: don't use 'dropout', keep 3 layers",
    "conv2d_batchnorm_relu_block_number_1_final = 1",
    'Tokenizer(num_words=1000, oov_token="<OOV>")\ntokenizer.pad_token = tokenizer.eos_token',
])
def test_ordinary_code_and_prose_pass_unchanged(source):
    assert redact_prompt(source) == source


def test_redaction_keeps_the_shape_of_the_code():
    source = 'cfg.api_key: str = "abc def"\nos.environ["HF_TOKEN"] = "abc"\nprint(cfg.api_key)'
    assert redact(source) == (
        f'cfg.api_key: str = "{REDACTED}"\nos.environ["HF_TOKEN"] = "{REDACTED}"\nprint(cfg.api_key)'
    )


def test_a_traceback_is_redacted_from_the_line_a_literal_opens_on():
    """The failing cell's source quoted in a traceback: a triple-quoted secret opened above the kept tail."""
    from jupyter_tinyml.notebook.context import capture

    secret_lines = [_word_password(f"Tb{i}") for i in range(40)]
    error = "\n".join(["Traceback (most recent call last):", '    db_password = """', *secret_lines, '"""',
                       "ValueError: bad config"])
    text = capture({}, last_error=error).render()
    assert not any(line in text for line in secret_lines) and "ValueError: bad config" in text


def test_the_offline_fix_keeps_the_key_in_the_cell_it_rebuilds(shell):
    """Redaction is for what is sent: a recipe sends nothing and must not replace the person's key."""
    shell.user_ns["x_train"] = [1, 2, 3]
    shell.run_cell(f'api_key = "{OPENAI}"\ntotal = sum(x_trian)\n', store_history=True)
    shell.run_line_magic("tinyml_fix", "")
    assert "sum(x_train)" in shell.rl_next_input and OPENAI in shell.rl_next_input


@pytest.mark.parametrize("shape", ['"password": "x", ', "A=", "!a password b\n", "x" * 50 + "\n", "'\"#([{"])
def test_redaction_is_linear(shape):
    import time

    text = shape * (300_000 // len(shape))
    started = time.process_time()
    redact_prompt(text)
    assert time.process_time() - started < 5.0  # measured ~0.3 s; quadratic would take minutes
