"""Reports: summary.html with its charts, and what the run gives Allure."""
