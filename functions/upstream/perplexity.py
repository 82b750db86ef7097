"""Perplexity: the research brief ("truth") of a movie, citations kept."""

from __future__ import annotations

from dataclasses import dataclass

from functions.models import Movie, Truth, utcnow
from functions.upstream import prompts
from functions.upstream.chat import ChatClient


@dataclass
class PerplexityResearcher:
    chat: ChatClient

    def research(self, movie: Movie) -> Truth:
        completion = self.chat.complete(prompts.research_messages(movie))
        return Truth(
            movie_id=movie.id,
            brief=completion.text,
            citations=completion.citations,
            model=self.chat.model,
            created_at=utcnow(),
            usage=completion.usage,
        )
