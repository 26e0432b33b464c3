# pybsim: a small unittest for MicroPython's own tests on the board.
#
# The MicroPython source that setup fetches (Debian's source package) has no
# micropython-lib, so the unittest that `mpremote mip install unittest` would put in
# /flash/lib/unittest cannot be installed from it. This module, written for pybsim,
# takes its place at that path: TestCase with the usual assertions, skips, expected
# failures, setUp/tearDown at test and class level, subTest, TestSuite, TestLoader,
# TextTestRunner and main(). Its summary is the one CPython's text runner prints,
# which MicroPython's run-tests.py reads:
#
#     ----------------------------------------------------------------------
#     Ran 3 tests
#
#     OK                                  (or OK (skipped=1), FAILED (failures=1, errors=0))
#
# main() does not end with sys.exit(): on a board, a SystemExit out of the raw REPL
# soft-resets it.

import sys

__all__ = [
    "SkipTest",
    "TestCase",
    "TestSuite",
    "TestResult",
    "TestLoader",
    "TextTestRunner",
    "TestRunner",
    "skip",
    "skipIf",
    "skipUnless",
    "expectedFailure",
    "main",
]


class SkipTest(Exception):
    pass


class _ExpectedFailure(Exception):
    pass


def _safe_repr(obj):
    try:
        return repr(obj)
    except Exception:
        return object.__repr__(obj)


class _RaisesContext:
    def __init__(self, case, expected, msg=None):
        self.case = case
        self.expected = expected
        self.msg = msg
        self.exception = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, tb):
        if exc_type is None:
            name = getattr(self.expected, "__name__", str(self.expected))
            self.case.fail(self.msg or "%s not raised" % name)
        if issubclass(exc_type, self.expected):
            self.exception = exc_value
            return True
        # Another exception: let it propagate (an error, not a failure).
        return False


class _SubTest:
    def __init__(self, case, msg, params):
        self.case = case
        self.msg = msg
        self.params = params

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, tb):
        if exc_type is None:
            return False
        if issubclass(exc_type, SkipTest):
            return False
        desc = self.msg if self.msg is not None else ""
        if self.params:
            desc += " (" + ", ".join("%s=%r" % kv for kv in sorted(self.params.items())) + ")"
        self.case._subtest_failures.append((desc, exc_value))
        return True


class TestCase:
    failureException = AssertionError
    longMessage = True

    def __init__(self, methodName="runTest"):
        self._testMethodName = methodName
        self._subtest_failures = []

    def __repr__(self):
        return "%s (%s)" % (self._testMethodName, _class_name(self.__class__))

    def id(self):
        return "%s.%s" % (_class_name(self.__class__), self._testMethodName)

    # Hooks
    def setUp(self):
        pass

    def tearDown(self):
        pass

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def skipTest(self, reason):
        raise SkipTest(reason)

    def subTest(self, msg=None, **params):
        return _SubTest(self, msg, params)

    # Assertions
    def fail(self, msg=None):
        raise self.failureException(msg)

    def _fail(self, default, msg):
        if msg is None:
            msg = default
        elif self.longMessage:
            msg = "%s : %s" % (default, msg)
        raise self.failureException(msg)

    def assertEqual(self, first, second, msg=None):
        if not first == second:
            self._fail("%s != %s" % (_safe_repr(first), _safe_repr(second)), msg)

    def assertNotEqual(self, first, second, msg=None):
        if not first != second:
            self._fail("%s == %s" % (_safe_repr(first), _safe_repr(second)), msg)

    def assertTrue(self, expr, msg=None):
        if not expr:
            self._fail("%s is not true" % _safe_repr(expr), msg)

    def assertFalse(self, expr, msg=None):
        if expr:
            self._fail("%s is not false" % _safe_repr(expr), msg)

    def assertIs(self, first, second, msg=None):
        if first is not second:
            self._fail("%s is not %s" % (_safe_repr(first), _safe_repr(second)), msg)

    def assertIsNot(self, first, second, msg=None):
        if first is second:
            self._fail("unexpectedly identical: %s" % _safe_repr(first), msg)

    def assertIsNone(self, obj, msg=None):
        if obj is not None:
            self._fail("%s is not None" % _safe_repr(obj), msg)

    def assertIsNotNone(self, obj, msg=None):
        if obj is None:
            self._fail("unexpectedly None", msg)

    def assertIn(self, member, container, msg=None):
        if member not in container:
            self._fail("%s not found in %s" % (_safe_repr(member), _safe_repr(container)), msg)

    def assertNotIn(self, member, container, msg=None):
        if member in container:
            self._fail(
                "%s unexpectedly found in %s" % (_safe_repr(member), _safe_repr(container)), msg
            )

    def assertIsInstance(self, obj, cls, msg=None):
        if not isinstance(obj, cls):
            self._fail("%s is not an instance of %r" % (_safe_repr(obj), cls), msg)

    def assertNotIsInstance(self, obj, cls, msg=None):
        if isinstance(obj, cls):
            self._fail("%s is an instance of %r" % (_safe_repr(obj), cls), msg)

    def assertAlmostEqual(self, first, second, places=None, msg=None, delta=None):
        if first == second:
            return
        diff = abs(first - second)
        if delta is not None:
            if places is not None:
                raise TypeError("specify delta or places, not both")
            if diff <= delta:
                return
            default = "%s != %s within %r delta (%r difference)" % (
                _safe_repr(first),
                _safe_repr(second),
                delta,
                diff,
            )
        else:
            if places is None:
                places = 7
            if round(diff, places) == 0:
                return
            default = "%s != %s within %r places (%r difference)" % (
                _safe_repr(first),
                _safe_repr(second),
                places,
                diff,
            )
        self._fail(default, msg)

    def assertNotAlmostEqual(self, first, second, places=None, msg=None, delta=None):
        diff = abs(first - second)
        if delta is not None:
            if places is not None:
                raise TypeError("specify delta or places, not both")
            if not (first == second) and diff > delta:
                return
            default = "%s == %s within %r delta" % (_safe_repr(first), _safe_repr(second), delta)
        else:
            if places is None:
                places = 7
            if not (first == second) and round(diff, places) != 0:
                return
            default = "%s == %s within %r places" % (_safe_repr(first), _safe_repr(second), places)
        self._fail(default, msg)

    def assertGreater(self, a, b, msg=None):
        if not a > b:
            self._fail("%s not greater than %s" % (_safe_repr(a), _safe_repr(b)), msg)

    def assertGreaterEqual(self, a, b, msg=None):
        if not a >= b:
            self._fail("%s not greater than or equal to %s" % (_safe_repr(a), _safe_repr(b)), msg)

    def assertLess(self, a, b, msg=None):
        if not a < b:
            self._fail("%s not less than %s" % (_safe_repr(a), _safe_repr(b)), msg)

    def assertLessEqual(self, a, b, msg=None):
        if not a <= b:
            self._fail("%s not less than or equal to %s" % (_safe_repr(a), _safe_repr(b)), msg)

    def assertCountEqual(self, first, second, msg=None):
        a = list(first)
        b = list(second)
        for x in a:
            if x in b:
                b.remove(x)
            else:
                b.append(None)
                break
        if b or len(list(first)) != len(list(second)):
            self._fail("element counts differ: %s, %s" % (_safe_repr(first), _safe_repr(second)), msg)

    def assertRaises(self, expected, *args, **kwargs):
        msg = kwargs.pop("msg", None)
        ctx = _RaisesContext(self, expected, msg)
        if not args:
            return ctx
        func = args[0]
        with ctx:
            func(*args[1:], **kwargs)
        return ctx.exception

    def assertWarns(self, warn, *args, **kwargs):
        # MicroPython has no warning categories to catch: the call just runs.
        if not args:
            return _NullContext()
        return args[0](*args[1:], **kwargs)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _class_name(cls):
    module = getattr(cls, "__module__", None)
    if module and module != "__main__":
        return "%s.%s" % (module, cls.__name__)
    return cls.__name__


# Decorators
def skip(reason):
    def decorator(item):
        def skipped(*args, **kwargs):
            raise SkipTest(reason)

        if isinstance(item, type):
            item.__unittest_skip__ = reason
            return item
        return skipped

    return decorator


def skipIf(condition, reason):
    if condition:
        return skip(reason)
    return lambda item: item


def skipUnless(condition, reason):
    if not condition:
        return skip(reason)
    return lambda item: item


def expectedFailure(func):
    def wrapper(*args, **kwargs):
        try:
            func(*args, **kwargs)
        except Exception as e:
            raise _ExpectedFailure(e)
        raise _UnexpectedSuccess()

    return wrapper


class _UnexpectedSuccess(Exception):
    pass


class TestResult:
    def __init__(self):
        self.testsRun = 0
        self.failures = []
        self.errors = []
        self.skipped = []
        self.expectedFailures = []
        self.unexpectedSuccesses = []

    # Counters with micropython-lib's names, for scripts that read them.
    @property
    def failuresNum(self):
        return len(self.failures)

    @property
    def errorsNum(self):
        return len(self.errors)

    @property
    def skippedNum(self):
        return len(self.skipped)

    def wasSuccessful(self):
        return not self.failures and not self.errors and not self.unexpectedSuccesses

    def __repr__(self):
        return "<TestResult run=%d errors=%d failures=%d>" % (
            self.testsRun,
            len(self.errors),
            len(self.failures),
        )


def _format_exc(e):
    # sys.print_exception is MicroPython's; CPython (for running this on a host)
    # has traceback.
    try:
        import io

        buf = io.StringIO()
        sys.print_exception(e, buf)
        return buf.getvalue()
    except AttributeError:
        import traceback

        return "".join(traceback.format_exception(type(e), e, e.__traceback__))


class TestSuite:
    def __init__(self, tests=()):
        self._tests = []
        for t in tests:
            self.addTest(t)

    def addTest(self, test):
        self._tests.append(test)

    def addTests(self, tests):
        for t in tests:
            self.addTest(t)

    def __iter__(self):
        return iter(self._tests)

    def countTestCases(self):
        n = 0
        for t in self._tests:
            n += t.countTestCases() if isinstance(t, TestSuite) else 1
        return n

    def run(self, result):
        _run_tests(self._flatten(), result)
        return result

    def _flatten(self):
        out = []
        for t in self._tests:
            if isinstance(t, TestSuite):
                out.extend(t._flatten())
            else:
                out.append(t)
        return out


def _report(test, outcome):
    print("%s ... %s" % (test, outcome))


def _run_one(test, result):
    method = getattr(test, test._testMethodName)
    result.testsRun += 1
    test._subtest_failures = []
    try:
        try:
            test.setUp()
        except SkipTest as e:
            result.skipped.append((test, str(e)))
            _report(test, "skipped %s" % e)
            return
        try:
            method()
        finally:
            test.tearDown()
    except SkipTest as e:
        result.skipped.append((test, str(e)))
        _report(test, "skipped %s" % e)
        return
    except _ExpectedFailure:
        result.expectedFailures.append(test)
        _report(test, "expected failure")
        return
    except _UnexpectedSuccess:
        result.unexpectedSuccesses.append(test)
        _report(test, "unexpected success")
        return
    except AssertionError as e:
        result.failures.append((test, _format_exc(e)))
        _report(test, "FAIL")
        return
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        result.errors.append((test, _format_exc(e)))
        _report(test, "ERROR")
        return
    if test._subtest_failures:
        for desc, e in test._subtest_failures:
            entry = ("%s [%s]" % (test, desc), _format_exc(e))
            if isinstance(e, AssertionError):
                result.failures.append(entry)
            else:
                result.errors.append(entry)
        _report(test, "FAIL")
        return
    _report(test, "ok")


def _run_tests(tests, result):
    # Tests arrive grouped by class: setUpClass/tearDownClass once around each group.
    i = 0
    while i < len(tests):
        cls = tests[i].__class__
        j = i
        while j < len(tests) and tests[j].__class__ is cls:
            j += 1
        group = tests[i:j]
        i = j
        reason = getattr(cls, "__unittest_skip__", None)
        if reason is not None:
            for t in group:
                result.testsRun += 1
                result.skipped.append((t, reason))
                _report(t, "skipped %s" % reason)
            continue
        try:
            cls.setUpClass()
        except SkipTest as e:
            for t in group:
                result.testsRun += 1
                result.skipped.append((t, str(e)))
                _report(t, "skipped %s" % e)
            continue
        except Exception as e:
            result.errors.append(("setUpClass (%s)" % _class_name(cls), _format_exc(e)))
            print("setUpClass (%s) ... ERROR" % _class_name(cls))
            continue
        for t in group:
            _run_one(t, result)
        try:
            cls.tearDownClass()
        except Exception as e:
            result.errors.append(("tearDownClass (%s)" % _class_name(cls), _format_exc(e)))
            print("tearDownClass (%s) ... ERROR" % _class_name(cls))


class TestLoader:
    testMethodPrefix = "test"

    def getTestCaseNames(self, cls):
        names = []
        for name in dir(cls):
            if name.startswith(self.testMethodPrefix) and callable(getattr(cls, name)):
                names.append(name)
        names.sort()
        return names

    def loadTestsFromTestCase(self, cls):
        return TestSuite([cls(name) for name in self.getTestCaseNames(cls)])

    def loadTestsFromModule(self, module):
        suite = TestSuite()
        classes = []
        for name in dir(module):
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, TestCase) and obj is not TestCase:
                classes.append((name, obj))
        classes.sort(key=lambda item: item[0])
        for _, cls in classes:
            suite.addTest(self.loadTestsFromTestCase(cls))
        return suite


class TextTestRunner:
    def run(self, test):
        result = TestResult()
        if isinstance(test, TestSuite):
            test.run(result)
        else:
            _run_tests([test], result)
        for kind, entries in (("ERROR", result.errors), ("FAIL", result.failures)):
            for test_, text in entries:
                print("=" * 70)
                print("%s: %s" % (kind, test_))
                print("-" * 70)
                print(text.rstrip("\n"))
                print()
        print("-" * 70)
        print("Ran %d tests" % result.testsRun)
        print()
        if result.wasSuccessful():
            if result.skipped:
                print("OK (skipped=%d)" % len(result.skipped))
            else:
                print("OK")
        else:
            print(
                "FAILED (failures=%d, errors=%d)"
                % (len(result.failures) + len(result.unexpectedSuccesses), len(result.errors))
            )
        return result


TestRunner = TextTestRunner


def main(module="__main__", testRunner=None):
    if isinstance(module, str):
        module = __import__(module)
    suite = TestLoader().loadTestsFromModule(module)
    if testRunner is None:
        testRunner = TextTestRunner()
    return testRunner.run(suite)
