"""vkbottle (PyPI `vkbottle` + `vkbottle-types`) against `vkconform mock --profile vk`.

vkbottle posts to `api.API_URL + method`; re-point it with
`api.API_URL = BASE + "/method/"`. Its default request rescheduler retries a
non-JSON answer for ever, so these tests replace it with one that fails.
Typed category methods parse answers into vkbottle-types' pydantic models: a
shape the mock gets wrong fails here as a ValidationError.
"""

import asyncio

import aiohttp
import pytest
from vkbottle import API, Bot, CaptchaError, PhotoMessageUploader, PhotoWallUploader, VKAPIError
from vkbottle.api import ABCRequestRescheduler
from vkbottle.bot import Message
from vkbottle.exception_factory import APIAuthError
from vkbottle.polling import BotPolling
from vkbottle_types.events import GroupEventType

from conftest import TOKEN

TIMEOUT = 20


class FailFast(ABCRequestRescheduler):
    """Instead of vkbottle's endless retry of a non-JSON answer."""

    async def reschedule(self, *args, **kwargs):
        raise AssertionError("the mock answered something that is not JSON")


def make_api(mock, token=TOKEN) -> API:
    api = API(token, request_rescheduler=FailFast())
    api.API_URL = mock.method_url
    return api


def run(coro):
    async def bounded():
        try:
            return await asyncio.wait_for(coro, TIMEOUT)
        finally:
            await asyncio.sleep(0)

    return asyncio.run(bounded())


async def closing(api: API, coro):
    try:
        return await coro
    finally:
        await api.http_client.close()


# ---------------------------------------------------------------- typed methods parse


def test_users_get_parses_into_user_models(mock):
    api = make_api(mock)
    users = run(closing(api, api.users.get(user_ids=[1, 2], fields=["sex", "screen_name", "bdate", "status", "photo_50", "verified"])))
    assert [u.id for u in users] == [1, 2]
    assert users[0].first_name == "Vladimir" and users[0].sex.value == 2
    assert users[0].screen_name == "id1" and users[0].bdate == "1.1.1970"
    assert users[1].status == "Hello from OpenVK"


TYPED_CALLS = [
    ("users.get", lambda a: a.users.get()),
    ("users.getFollowers", lambda a: a.users.get_followers(user_id=1)),
    ("users.getFollowers fields", lambda a: a.users.get_followers(user_id=1, fields=["sex"])),
    ("wall.get", lambda a: a.wall.get(owner_id=1)),
    ("wall.get extended", lambda a: a.wall.get(owner_id=1, extended=True)),
    ("wall.getById", lambda a: a.wall.get_by_id(posts=["1_1", "1_3"])),
    ("wall.getComments", lambda a: a.wall.get_comments(owner_id=1, post_id=1)),
    ("groups.getById", lambda a: a.groups.get_by_id(group_ids=[1, 2, 3], fields=["members_count"])),
    ("groups.get", lambda a: a.groups.get()),
    ("groups.get extended", lambda a: a.groups.get(extended=True)),
    ("groups.getMembers", lambda a: a.groups.get_members(group_id=1)),
    ("groups.isMember", lambda a: a.groups.is_member(group_id=1, user_id=1)),
    ("groups.getSettings", lambda a: a.groups.get_settings(group_id=1)),
    ("friends.get", lambda a: a.friends.get()),
    ("friends.get fields", lambda a: a.friends.get(fields=["sex"])),
    ("friends.getRequests", lambda a: a.friends.get_requests()),
    ("friends.areFriends", lambda a: a.friends.are_friends(user_ids=[2, 4])),
    ("messages.getHistory", lambda a: a.messages.get_history(peer_id=2)),
    ("messages.getHistory extended", lambda a: a.messages.get_history(peer_id=2, extended=True)),
    ("messages.getById", lambda a: a.messages.get_by_id(message_ids=[1, 2])),
    ("messages.getConversations", lambda a: a.messages.get_conversations()),
    ("messages.getConversationsById", lambda a: a.messages.get_conversations_by_id(peer_ids=[2])),
    ("messages.getLongPollServer", lambda a: a.messages.get_long_poll_server()),
    ("messages.getLongPollHistory", lambda a: a.messages.get_long_poll_history(ts=1)),
    ("status.get", lambda a: a.status.get()),
    ("account.getProfileInfo", lambda a: a.account.get_profile_info()),
    ("account.getCounters", lambda a: a.account.get_counters()),
    ("utils.getServerTime", lambda a: a.utils.get_server_time()),
    ("photos.getAlbums", lambda a: a.photos.get_albums(owner_id=1)),
    ("photos.get", lambda a: a.photos.get(owner_id=1, album_id="1")),
    ("photos.getById", lambda a: a.photos.get_by_id(photos=["1_1"])),
    ("photos.getWallUploadServer", lambda a: a.photos.get_wall_upload_server()),
    ("likes.isLiked", lambda a: a.likes.is_liked(user_id=2, type="post", owner_id=1, item_id=1)),
    ("newsfeed.get", lambda a: a.newsfeed.get()),
    ("board.getTopics", lambda a: a.board.get_topics(group_id=1)),
    ("board.getComments", lambda a: a.board.get_comments(group_id=1, topic_id=1)),
    ("notes.get", lambda a: a.notes.get(user_id=1)),
    ("notes.getById", lambda a: a.notes.get_by_id(note_id=1, owner_id=1)),
    ("notes.getComments", lambda a: a.notes.get_comments(note_id=1, owner_id=1)),
    ("polls.getById", lambda a: a.polls.get_by_id(poll_id=1, owner_id=1)),
    ("gifts.get", lambda a: a.gifts.get()),
]


@pytest.mark.parametrize("name,call", TYPED_CALLS, ids=[n for n, _ in TYPED_CALLS])
def test_typed_reads_parse_without_validation_errors(mock, name, call):
    api = make_api(mock)
    assert run(closing(api, call(api))) is not None


def test_ids_unless_objects_are_asked_for(mock):
    api = make_api(mock)

    async def go():
        friends = await api.friends.get()
        assert friends.items == [2, 3]
        full = await api.friends.get(fields=["sex"])
        assert full.items[0].first_name == "Anna"
        groups = await api.groups.get()
        assert groups.items == [1, 2]
        ext = await api.groups.get(extended=True)
        assert ext.items[0].name == "OpenVK Test Club"

    run(closing(api, go()))


def test_writes_and_reads_back(mock):
    api = make_api(mock)

    async def go():
        post = await api.wall.post(owner_id=1, message="Hello from vkbottle")
        got = await api.wall.get_by_id(posts=[f"1_{post.post_id}"])
        assert got.items[0].text == "Hello from vkbottle"
        comment = await api.wall.create_comment(owner_id=1, post_id=post.post_id, message="first")
        assert comment.comment_id > 0
        mid = await api.messages.send(peer_id=2, message="ping from vkbottle", random_id=0)
        hist = await api.messages.get_history(peer_id=2, count=1)
        assert hist.items[0].id == mid and hist.items[0].text == "ping from vkbottle"
        assert hist.items[0].version >= 1
        multi = await api.messages.send(peer_ids=[2, 3], message="to both", random_id=0)
        assert [(r.peer_id, r.message_id > mid) for r in multi] == [(2, True), (3, True)]
        await api.status.set(text="testing vkbottle")
        assert (await api.status.get()).text == "testing vkbottle"
        liked = await api.likes.add(type="post", owner_id=1, item_id=post.post_id)
        assert liked.likes == 1

    run(closing(api, go()))


# ---------------------------------------------------------------- errors


def test_no_token_is_api_auth_error(mock):
    api = make_api(mock, token="")

    async def go():
        # users.get is documented without 🔰 and answers anonymously.
        assert (await api.users.get(user_ids=[1]))[0].id == 1
        with pytest.raises(APIAuthError) as e:
            await api.status.get()
        assert e.value.code == 5
        with pytest.raises(VKAPIError[5]):
            await api.account.get_profile_info()

    run(closing(api, go()))


def test_error_100_is_vkapierror_100_with_request_params(mock):
    api = make_api(mock)

    async def go():
        with pytest.raises(VKAPIError[100]) as e:
            await api.request("users.get", {"user_ids": ""})
        assert e.value.error_msg.startswith("One of the parameters specified was missing or invalid")
        assert e.value.request_params["user_ids"] == ""
        assert e.value.request_params["method"] == "users.get"
        assert "access_token" not in e.value.request_params

    run(closing(api, go()))


def test_error_6_is_raised_not_retried(mock_factory):
    """vkbottle has no retry for error 6 (unlike vk-io and vk_api): it surfaces."""
    mock = mock_factory("--rate-limit", "1")
    api = make_api(mock)

    async def go():
        with pytest.raises(VKAPIError[6]) as e:
            for _ in range(5):
                await api.utils.get_server_time()
        assert e.value.error_msg == "Too many requests per second"

    run(closing(api, go()))


# ---------------------------------------------------------------- execute


def test_execute_returns_the_whole_body(mock):
    api = make_api(mock)

    async def go():
        r = await api.execute(code='return [API.users.get({"user_ids": 3}), API.wall.getById({})];')
        assert r.response["response"][0][0]["first_name"] == "Ivan"
        assert r.response["response"][1] is False
        assert r.response["execute_errors"][0]["error_code"] == 100
        loop = await api.execute(
            code="var ids = [1, 2, 3], i = 0, names = [];"
            "while (i < ids.length) { names.push(API.users.get({user_ids: ids[i]})[0].first_name); i = i + 1; }"
            "return names;"
        )
        assert loop.response["response"] == ["Vladimir", "Anna", "Ivan"]

    run(closing(api, go()))


# ---------------------------------------------------------------- captcha


def test_captcha_handler_solves_and_the_retry_passes(mock_factory):
    mock = mock_factory("--captcha-every", "1")
    api = make_api(mock)
    seen = []

    async def handler(e: CaptchaError) -> str:
        seen.append((e.captcha_sid, e.captcha_img))
        return e.captcha_sid[-4:]  # documented answer: the sid's last four digits

    api.add_captcha_handler(handler)

    async def go():
        assert (await api.status.set(text="after captcha")).value == 1
        assert (await api.wall.post(owner_id=1, message="after captcha")).post_id > 0

    run(closing(api, go()))
    assert len(seen) == 2
    assert all(img.startswith(mock.base + "/captcha.php?sid=") for _, img in seen)


def test_captcha_without_handler_is_captcha_error(mock_factory):
    mock = mock_factory("--captcha-every", "1")
    api = make_api(mock)

    async def go():
        with pytest.raises(CaptchaError) as e:
            await api.status.set(text="x")
        assert e.value.code == 14 and e.value.captcha_sid
        assert e.value.captcha_img.endswith(e.value.captcha_sid)

    run(closing(api, go()))


# ---------------------------------------------------------------- bot polling


def test_bot_answers_a_message_over_bots_long_poll(mock, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # BotPolling keeps its ts in ./.vkbottle/
    api = make_api(mock)
    bot = Bot(api=api, polling=BotPolling(group_id=1, wait=1))

    async def go():
        answered = asyncio.get_running_loop().create_future()
        wall = asyncio.get_running_loop().create_future()

        @bot.on.message(text="ping")
        async def ping(message: Message):
            sent = await message.answer("pong")
            if not answered.done():
                answered.set_result((message.from_id, message.peer_id, sent))

        @bot.on.raw_event(GroupEventType.WALL_POST_NEW, dict)
        async def news(event: dict):
            if not wall.done():
                wall.set_result(event["object"]["text"])

        task = asyncio.create_task(bot.run_polling())
        try:
            await asyncio.sleep(0.5)
            async with aiohttp.ClientSession() as s:
                async with s.post(mock.base + "/__vkconform/vk/group-event", json={"from_id": 2, "text": "ping"}) as r:
                    assert r.status == 200
            from_id, peer_id, sent = await asyncio.wait_for(answered, 10)
            assert (from_id, peer_id, sent.peer_id) == (2, 2, 2)
            hist = await api.messages.get_history(peer_id=2, count=1)
            assert hist.items[0].text == "pong"
            await api.wall.post(owner_id=-1, message="club news")
            assert await asyncio.wait_for(wall, 10) == "club news"
        finally:
            bot.polling.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    run(closing(api, go()))


# ---------------------------------------------------------------- uploads


def test_photo_uploaders(mock):
    api = make_api(mock)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64

    async def go():
        attachment = await PhotoMessageUploader(api).upload(file_source=png, peer_id=2)
        assert attachment.startswith("photo1_")
        await api.messages.send(peer_id=2, message="look", attachment=attachment, random_id=0)
        last = (await api.messages.get_history(peer_id=2, count=1)).items[0]
        assert last.attachments[0].photo.id == int(attachment.split("_")[1])
        wall = await PhotoWallUploader(api).upload(file_source=png)
        post = await api.wall.post(owner_id=1, message="with a photo", attachments=[wall])
        got = await api.wall.get_by_id(posts=[f"1_{post.post_id}"])
        assert got.items[0].attachments[0].photo.owner_id == 1

    run(closing(api, go()))
