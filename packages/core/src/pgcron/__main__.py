from pgcron.cli import main

main()
