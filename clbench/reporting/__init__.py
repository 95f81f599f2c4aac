"""Reading records: statistics over seeds, the leaderboard and its formats, lr curves, figures and run summaries."""
