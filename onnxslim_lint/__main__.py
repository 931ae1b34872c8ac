from onnxslim_lint.cli import main

raise SystemExit(main())
