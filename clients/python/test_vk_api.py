"""vk_api (PyPI `vk_api`) against `vkconform mock --profile vk`.

vk_api has no base-URL option: it posts to https://api.vk.ru/method/NAME. The
supported seam is `VkApi(session=...)`, a requests.Session that rewrites that
prefix to the mock (docs/clients.md).
"""

import io
import time

import pytest
import requests
import vk_api
from vk_api.bot_longpoll import VkBotEventType, VkBotLongPoll
from vk_api.requests_pool import VkRequestsPool
from vk_api.upload import VkUpload
from vk_api.utils import get_random_id

from conftest import TOKEN

VK_PREFIX = "https://api.vk.ru/method/"


class MockSession(requests.Session):
    """Sends vk_api's calls to the mock; counts them per method."""

    def __init__(self, method_url: str):
        super().__init__()
        self.method_url = method_url
        self.calls: list[str] = []

    def request(self, method, url, *args, **kwargs):
        if url.startswith(VK_PREFIX):
            self.calls.append(url[len(VK_PREFIX):])
            url = self.method_url + url[len(VK_PREFIX):]
        kwargs.setdefault("timeout", 15)
        return super().request(method, url, *args, **kwargs)


def session_for(mock, token=TOKEN, **kw):
    s = MockSession(mock.method_url)
    vk = vk_api.VkApi(token=token, session=s, **kw)
    return vk, s


# ---------------------------------------------------------------- reads


def test_users_get_at_vk_api_default_version_5_92(mock):
    vk, s = session_for(mock)
    assert vk.api_version == "5.92"
    users = vk.get_api().users.get(user_ids=[1, 2], fields="sex,photo_50,screen_name")
    assert [u["id"] for u in users] == [1, 2]
    assert users[0]["first_name"] == "Vladimir" and users[0]["sex"] == 2
    assert users[1]["screen_name"] == "anna"
    assert "photo_50" in users[0]
    assert "bdate" not in users[0], "fields not asked for are left out"


def test_users_get_at_5_199_and_repeated_keys(mock):
    vk, _ = session_for(mock, api_version="5.199")
    # vk.method() sends a list as repeated keys: user_ids=1&user_ids=3
    users = vk.method("users.get", {"user_ids": [1, 3], "fields": ["sex"]})
    assert [(u["id"], u["sex"]) for u in users] == [(1, 2), (3, 2)]
    # without ids: the token's user
    assert vk.method("users.get")[0]["id"] == 1


def test_no_token_and_unknown_token_are_error_5(mock):
    vk, _ = session_for(mock, token=None)
    # users.get is documented without 🔰, so it answers anonymously; a 🔰 method does not.
    assert vk.method("users.get", {"user_ids": 1})[0]["id"] == 1
    with pytest.raises(vk_api.ApiError) as e:
        vk.method("account.getProfileInfo")
    assert e.value.code == 5
    assert "no access_token" in e.value.error["error_msg"]
    vk, _ = session_for(mock, token="not-a-token")
    with pytest.raises(vk_api.ApiError) as e:
        vk.get_api().users.get(user_ids=1)
    assert e.value.code == 5
    assert "not-a-token" not in str(e.value.error), "the token is never echoed"


def test_error_100_carries_request_params(mock):
    vk, _ = session_for(mock, api_version="5.199")
    with pytest.raises(vk_api.ApiError) as e:
        vk.get_api().users.get(user_ids="", fields="sex")
    err = e.value.error
    assert e.value.code == 100
    assert err["error_msg"].startswith("One of the parameters specified was missing or invalid")
    params = {p["key"]: p["value"] for p in err["request_params"]}
    assert params["user_ids"] == "" and params["fields"] == "sex"
    assert params["method"] == "users.get" and params["v"] == "5.199"
    assert "access_token" not in params


def test_groups_get_by_id_shape_depends_on_version(mock):
    old, _ = session_for(mock)
    assert old.method("groups.getById", {"group_id": 1})[0]["name"] == "OpenVK Test Club"
    new, _ = session_for(mock, api_version="5.199")
    r = new.get_api().groups.getById(group_ids="1,2")
    assert set(r) == {"groups", "profiles"}
    assert [g["id"] for g in r["groups"]] == [1, 2]


def test_friends_and_groups_are_ids_unless_asked_for_objects(mock):
    api = session_for(mock, api_version="5.199")[0].get_api()
    assert api.friends.get() == {"count": 2, "items": [2, 3]}
    assert api.friends.get(fields="sex")["items"][0]["sex"] == 1
    assert api.groups.get()["items"] == [1, 2]
    assert api.groups.get(extended=1)["items"][1]["name"] == "Lagtrain Fans"


# ---------------------------------------------------------------- writes


def test_wall_post_then_get_by_id_in_both_shapes(mock):
    vk, _ = session_for(mock)
    post_id = vk.get_api().wall.post(owner_id=1, message="Hello from vk_api")["post_id"]
    old = vk.get_api().wall.getById(posts=f"1_{post_id}")
    assert old[0]["text"] == "Hello from vk_api", "5.92: a bare array"
    new = session_for(mock, api_version="5.199")[0].get_api().wall.getById(posts=f"1_{post_id}")
    assert new["items"][0]["id"] == post_id, "5.199: {items}"
    newest = session_for(mock, api_version="5.199")[0].get_api().wall.get(owner_id=1, count=1)
    assert newest["items"][0]["id"] == post_id


def test_messages_send_then_get_history(mock):
    api = session_for(mock, api_version="5.199")[0].get_api()
    mid = api.messages.send(peer_id=2, message="ping from vk_api", random_id=get_random_id())
    assert isinstance(mid, int)
    hist = api.messages.getHistory(peer_id=2, count=5)
    assert hist["items"][0]["id"] == mid
    assert hist["items"][0]["text"] == "ping from vk_api"
    assert hist["items"][0]["out"] == 1


def test_status_set_then_get(mock):
    api = session_for(mock)[0].get_api()
    assert api.status.set(text="testing vk_api") == 1
    assert api.status.get()["text"] == "testing vk_api"


# ---------------------------------------------------------------- execute


def test_raw_execute_reports_failed_calls(mock):
    vk, _ = session_for(mock)
    body = vk.method(
        "execute",
        {"code": 'return [API.users.get({"user_ids": 2}), API.nope.nope({}), API.status.get()];'},
        raw=True,
    )
    assert body["response"][0][0]["first_name"] == "Anna"
    assert body["response"][1] is False
    assert body["execute_errors"] == [
        {"method": "nope.nope", "error_code": 3, "error_msg": "Unknown method passed."}
    ]


def test_requests_pool_of_one_method_with_a_failing_request(mock):
    vk, s = session_for(mock)
    with VkRequestsPool(vk) as pool:
        anna = pool.method("users.get", {"user_ids": 2})
        bad = pool.method("users.get", {"user_ids": ""})
        ivan = pool.method("users.get", {"user_ids": 3})
    assert s.calls == ["execute"], "one execute (a VKScript while loop) for the whole pool"
    assert anna.ok and anna.result[0]["first_name"] == "Anna"
    assert ivan.ok and ivan.result[0]["first_name"] == "Ivan"
    assert not bad.ok
    assert bad.error["error_code"] == 100 and bad.error["method"] == "users.get"


def test_requests_pool_of_mixed_methods(mock):
    vk, s = session_for(mock)
    with VkRequestsPool(vk) as pool:
        users = pool.method("users.get", {"user_ids": "1,2"})
        time_ = pool.method("utils.getServerTime", {})
        missing = pool.method("wall.getById", {})
        status = pool.method("status.get", {})
    assert s.calls == ["execute"]
    assert [u["id"] for u in users.result] == [1, 2]
    assert isinstance(time_.result, int)
    assert status.ok and "text" in status.result
    assert not missing.ok and missing.error["error_code"] == 100


# ---------------------------------------------------------------- captcha and rate limit


def test_captcha_handler_solves_and_the_retry_passes(mock_factory):
    mock = mock_factory("--captcha-every", "1")
    seen = []

    def handler(captcha):
        # The answer is documented: the sid's last four digits (the image shows it).
        seen.append(captcha)
        img = requests.get(captcha.get_url(), timeout=10)
        assert img.headers["content-type"].startswith("image/svg")
        assert captcha.sid[-4:] in img.text
        return captcha.try_again(captcha.sid[-4:])

    vk, _ = session_for(mock, captcha_handler=handler)
    assert vk.method("status.set", {"text": "after captcha"}) == 1
    assert len(seen) == 1 and seen[0].code == 14
    assert vk.method("status.get")["text"] == "after captcha", "reads need no captcha"
    assert vk.get_api().wall.post(owner_id=1, message="x")["post_id"] > 0
    assert len(seen) == 2, "every write asks again with --captcha-every 1"


def test_captcha_without_handler_raises_captcha(mock_factory):
    mock = mock_factory("--captcha-every", "1")
    vk, _ = session_for(mock)
    with pytest.raises(vk_api.Captcha) as e:
        vk.method("status.set", {"text": "x"})
    assert e.value.sid and e.value.get_url().startswith(mock.base + "/captcha.php?sid=")


def test_error_6_is_retried_until_it_passes(mock_factory):
    mock = mock_factory("--rate-limit", "2")
    vk, s = session_for(mock)
    vk.RPS_DELAY = 0  # let vk_api's own pacing go: the mock's limit decides
    started = time.monotonic()
    for _ in range(6):
        assert vk.method("users.get", {"user_ids": 1})[0]["id"] == 1
    assert len(s.calls) > 6, "some calls were answered error 6 and retried"
    assert time.monotonic() - started < 30


# ---------------------------------------------------------------- bots long poll


def test_bot_long_poll_gets_message_new_and_wall_post_new(mock):
    vk, _ = session_for(mock, api_version="5.199")
    lp = VkBotLongPoll(vk, group_id=1, wait=1)
    assert lp.server.startswith(mock.base + "/bots/1")
    assert isinstance(lp.ts, str)
    mock.push_event(group_id=1, from_id=2, text="hi bot")
    vk.method("wall.post", {"owner_id": -1, "message": "news"})
    events = []
    deadline = time.monotonic() + 15
    while len(events) < 2 and time.monotonic() < deadline:
        events.extend(lp.check())
    assert [e.type for e in events] == [VkBotEventType.MESSAGE_NEW, VkBotEventType.WALL_POST_NEW]
    msg = events[0]
    assert msg.group_id == 1
    assert msg.obj.message["text"] == "hi bot" and msg.obj.message["from_id"] == 2
    assert events[1].obj["text"] == "news"
    # the bot answers the way bots do
    reply = vk.method("messages.send", {"peer_id": msg.obj.message["peer_id"], "message": "hello", "random_id": 0})
    assert isinstance(reply, int)


def test_bot_long_poll_needs_an_administered_group(mock):
    vk, _ = session_for(mock, api_version="5.199")
    with pytest.raises(vk_api.ApiError) as e:
        VkBotLongPoll(vk, group_id=3)
    assert e.value.code == 15


# ---------------------------------------------------------------- uploads

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_vk_upload_wall_message_album_and_profile_photos(mock):
    vk, _ = session_for(mock, api_version="5.199")
    up = VkUpload(vk)
    wall = up.photo_wall(io.BytesIO(PNG))
    assert wall[0]["owner_id"] == 1 and wall[0]["id"] > 0
    post = vk.method("wall.post", {"owner_id": 1, "message": "with a photo", "attachments": f"photo1_{wall[0]['id']}"})
    got = vk.method("wall.getById", {"posts": f"1_{post['post_id']}"})["items"][0]
    assert got["attachments"][0]["type"] == "photo"
    msg = up.photo_messages(io.BytesIO(PNG), peer_id=2)
    vk.method("messages.send", {"peer_id": 2, "message": "look", "attachment": f"photo1_{msg[0]['id']}", "random_id": 0})
    last = vk.method("messages.getHistory", {"peer_id": 2, "count": 1})["items"][0]
    assert last["attachments"][0]["photo"]["id"] == msg[0]["id"]
    album = up.photo([io.BytesIO(PNG), io.BytesIO(PNG + b"2")], album_id=1)
    assert album and all(p["album_id"] == 1 for p in album)
    assert up.photo_profile(io.BytesIO(PNG))["photo_hash"]
