"""xAI Grok: the roast of a movie, written from its truth."""

from __future__ import annotations

from dataclasses import dataclass

from functions.models import Movie, Roast, Truth, utcnow
from functions.upstream import prompts
from functions.upstream.chat import ChatClient


@dataclass
class GrokRoaster:
    chat: ChatClient

    def roast(self, movie: Movie, truth: Truth) -> Roast:
        completion = self.chat.complete(prompts.roast_messages(movie, truth))
        return Roast(
            movie_id=movie.id,
            roast=completion.text,
            model=self.chat.model,
            created_at=utcnow(),
            usage=completion.usage,
        )
