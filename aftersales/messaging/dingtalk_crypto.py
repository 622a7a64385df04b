"""DingTalk's callback encryption, as its event-subscription documentation specifies it.

There is no maintained Python SDK for it, so this follows the published algorithm:

* the key is the 43-character ``aes_key`` plus ``=``, base64-decoded (32 bytes); the IV is its
  first 16 bytes; the cipher is AES-256-CBC;
* the plaintext is 16 random bytes, the message length as a 4-byte big-endian integer, the
  message (UTF-8), then the receiver's key (the app's AppKey, the corp id or the suite key),
  padded PKCS#7-style to a multiple of **32** bytes (not the cipher's 16);
* ``msg_signature`` is the hex SHA-1 of ``token``, ``timestamp``, ``nonce`` and ``encrypt``
  sorted as strings and concatenated;
* the receiver answers every event with the word ``success`` encrypted the same way, as JSON
  ``{"msg_signature", "timeStamp", "nonce", "encrypt"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class DingTalkCryptoError(Exception):
    """The signature does not match, or the ciphertext is not ours."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()  # noqa: S324 - the protocol's choice


class DingTalkCrypto:
    """Encrypt and decrypt one receiver's callbacks (``owner_key``: AppKey, corp id, suite key)."""

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            raise DingTalkCryptoError("The AES key is not valid base64.") from None
        if len(aes_key) != 43 or len(key) != 32:
            raise DingTalkCryptoError("The AES key must be 43 characters.")
        self.token = token
        self.key = key
        self.owner_key = owner_key

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str, *, random: bytes | None = None) -> str:
        text = message.encode()
        random = random if random is not None else os.urandom(16)
        plain = random + struct.pack(">I", len(text)) + text + self.owner_key.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise DingTalkCryptoError("The message is not valid base64.") from None
        if not data or len(data) % 16:
            raise DingTalkCryptoError("The message has no whole blocks.")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise DingTalkCryptoError("The padding is wrong.")
        content = plain[16:-pad]
        if len(content) < 4:
            raise DingTalkCryptoError("The message is too short.")
        (length,) = struct.unpack(">I", content[:4])
        message, owner = content[4 : 4 + length], content[4 + length :]
        if len(message) != length or not hmac.compare_digest(owner, self.owner_key.encode()):
            raise DingTalkCryptoError("The message was not encrypted for this receiver.")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise DingTalkCryptoError("The message is not UTF-8.") from None

    def check(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """The decrypted message, after checking its signature."""
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, msg_signature or ""):
            raise DingTalkCryptoError("The signature does not match.")
        return self.decrypt(encrypt)

    def reply(
        self, message: str = "success", *, timestamp: str | None = None, nonce: str | None = None
    ) -> dict[str, Any]:
        """The encrypted answer DingTalk expects to a callback."""
        timestamp = timestamp or str(int(time.time() * 1000))
        nonce = nonce or base64.b32encode(os.urandom(10)).decode().lower()[:12]
        encrypt = self.encrypt(message)
        return {
            "msg_signature": signature(self.token, timestamp, nonce, encrypt),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }


def robot_sign(app_secret: str, timestamp: str) -> str:
    """The ``sign`` header of a DingTalk robot's outgoing callback: base64 of HMAC-SHA256 over
    ``timestamp + "\\n" + app_secret`` keyed with the app secret."""
    digest = hmac.new(
        app_secret.encode(), f"{timestamp}\n{app_secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def check_robot_sign(
    app_secret: str, timestamp: str, sign: str, *, now_ms: int | None = None
) -> None:
    """Refuse a robot callback whose ``sign`` is wrong or whose timestamp is over an hour off,
    as DingTalk's documentation tells receivers to."""
    if not app_secret or not timestamp.isdigit():
        raise DingTalkCryptoError("No secret or no timestamp.")
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if abs(now_ms - int(timestamp)) > 3600 * 1000:
        raise DingTalkCryptoError("The timestamp is more than an hour off.")
    if not hmac.compare_digest(robot_sign(app_secret, timestamp), sign or ""):
        raise DingTalkCryptoError("The signature does not match.")
