// Every table of a page sorts by a column when its header is clicked (tablesort 5.7.1 from npm,
// vendored beside this file with its licence). Cells that start with a number ("77.68 ± 2.78",
// "+1.00 [-0.43, +2.43]", "5 (1 diverged)", "1.2e-04") sort by that number; the words clbench writes
// where a number is missing ("n/a", "baseline", "no common seeds") sort below every number.
(function () {
  var missing = /^(n\/a|baseline|no common seeds)$/;

  function leadingNumber(text) {
    var value = parseFloat(text.replace(/\u2212/g, "-"));
    return isNaN(value) ? -Infinity : value;
  }

  Tablesort.extend("leading-number", function (item) {
    return /^[-+\u2212]?\.?\d/.test(item) || missing.test(item);
  }, function (a, b) {
    var x = leadingNumber(a), y = leadingNumber(b);
    return x === y ? 0 : (y > x ? 1 : -1);
  });

  document.querySelectorAll("article table").forEach(function (table) {
    if (table.tHead) new Tablesort(table);
  });
})();
