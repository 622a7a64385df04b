"""Messaging platforms: WeChat, WeCom and DingTalk callbacks and replies."""
