"""The official `openai` Python client against `quire serve`'s /v1 API.

Run by tests/openai/openai.test.mjs with the server's base URL and token, a
library holding the file named by QUIRE_EXPECT_FILE, and the MiniLM reference
embeddings of the shared fixtures. Prints one JSON line of what it saw; every
check that fails raises (non-zero exit).
"""

import json
import math
import os
import sys

import openai

base_url, token, fixtures = sys.argv[1], sys.argv[2], sys.argv[3]
expect_file = os.environ["QUIRE_EXPECT_FILE"]
question = os.environ["QUIRE_QUESTION"]
client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=600)
seen = {}

# Models: the one answers use ("quire"), the GGUFs, and the embedder.
ids = [m.id for m in client.models.list()]
assert "quire" in ids and "all-MiniLM-L6-v2" in ids, ids
assert any(i.endswith(".gguf") for i in ids), ids
seen["models"] = ids

# Embeddings: the client asks for base64 by default; both encodings give the
# MiniLM reference vectors (cosine >= 0.999).
refs = [json.loads(line) for line in open(fixtures)]
texts = [r["text"] for r in refs]
for fmt in ("base64", "float"):
    kwargs = {} if fmt == "base64" else {"encoding_format": "float"}
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts, **kwargs)
    assert len(out.data) == len(refs)
    for r, d in zip(refs, out.data):
        v, want = d.embedding, r["embedding"]
        assert len(v) == 384, len(v)
        cos = sum(a * b for a, b in zip(v, want)) / (
            math.sqrt(sum(a * a for a in v)) * math.sqrt(sum(b * b for b in want))
        )
        assert cos >= 0.999, (fmt, r["text"], cos)
    assert out.usage.prompt_tokens == sum(len(r["token_ids"]) for r in refs), out.usage
seen["embedded"] = len(texts)

# A chat completion, streamed: tokens arrive in several chunks, the last
# chunk names the cited file and page.
stream = client.chat.completions.create(
    model="quire",
    messages=[{"role": "system", "content": "You are a helpful assistant."},
              {"role": "user", "content": question}],
    stream=True,
    stream_options={"include_usage": True},
)
parts, sources, finish, usage = [], None, None, None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        if c.delta.content:
            parts.append(c.delta.content)
        if c.finish_reason:
            finish = c.finish_reason
            sources = (chunk.model_extra or {}).get("sources")
text = "".join(parts)
assert len(parts) > 3, parts
assert finish in ("stop", "length"), finish
assert sources, "no sources in the last chunk"
assert any(s["name"] == expect_file and s["page"] for s in sources), sources
assert expect_file in text, text  # the sources block at the end of the text
assert usage and usage.completion_tokens > 0 and usage.prompt_tokens > 0, usage
seen["streamed"] = {"chunks": len(parts), "finish": finish, "cited": [(s["name"], s["page"]) for s in sources]}

# Not streamed, a follow-up in the same conversation.
reply = client.chat.completions.create(
    model="quire",
    messages=[{"role": "user", "content": question},
              {"role": "assistant", "content": text},
              {"role": "user", "content": [{"type": "text", "text": "Which page says so?"}]}],
    max_tokens=48,
)
msg = reply.choices[0].message
assert msg.role == "assistant" and msg.content, reply
cited = (reply.model_extra or {}).get("sources")
assert isinstance(cited, list), reply
seen["follow_up"] = {"finish": reply.choices[0].finish_reason, "cited": [(s["name"], s["page"]) for s in cited]}

# Errors as OpenAI clients expect them.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError as e:
    assert "no-such-model" in str(e), e
try:
    openai.OpenAI(base_url=base_url, api_key="wrong-key", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError:
    pass
try:
    client.chat.completions.create(model="quire", messages=[{"role": "assistant", "content": "hello"}])
    raise AssertionError("a conversation without a question was accepted")
except openai.BadRequestError as e:
    assert "question" in str(e), e

print(json.dumps(seen))
