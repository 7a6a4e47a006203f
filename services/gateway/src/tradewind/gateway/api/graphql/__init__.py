"""/graphql: a read-only GraphQL API over the same reads, scopes and limits as the REST API."""
