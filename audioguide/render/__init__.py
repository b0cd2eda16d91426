"""Stage 5, render: the Timeline mixed into PCM, with ambience, mastered to the loudness target."""
