"""`make smoke`: one real call to each provider (see __main__)."""
