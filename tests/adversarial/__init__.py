"""Adversarial tests (issue 11): a full disk, a deleted or locked log, two processes, hostile servers, planted keys.

Each test here failed on the commit the fix was written against (see the commit messages) and keeps the fix.
"""
