//! Reading an Nsight Compute CSV (`ncu --csv --page raw --metrics ...`): one row per profiled
//! kernel, in launch order, with its DRAM bytes and warp instructions.

/// What one profiled kernel contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct NcuKernel {
    /// `Kernel Name` as Nsight Compute prints it (function name, no namespace or arguments).
    pub name: String,
    pub dram_bytes: Option<f64>,
    /// The share of `dram_bytes` written, where both directions were profiled.
    pub dram_write_share: Option<f64>,
    pub instructions: Option<f64>,
    pub grid: Option<u64>,
    pub block: Option<u64>,
}

/// Parses the CSV. `==PROF==`/`==WARNING==` lines (a raw ncu log) are skipped; the first row
/// names the columns and a second row of units, when present, is skipped.
pub fn parse(text: &str) -> Result<Vec<NcuKernel>, String> {
    let body: String = text.lines().filter(|l| !l.starts_with("==")).flat_map(|l| [l, "\n"]).collect();
    let mut rd = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(body.as_bytes());
    let headers = rd.headers().map_err(|e| format!("not an Nsight Compute CSV: {e}"))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let name_col = col("Kernel Name").ok_or("not an Nsight Compute CSV: no `Kernel Name` column")?;
    let (read, write) = (col("dram__bytes_read.sum"), col("dram__bytes_write.sum"));
    let inst = col("smsp__inst_executed.sum");
    let (grid, block) = (col("launch__grid_size"), col("launch__block_size"));
    if read.is_none() && inst.is_none() {
        return Err("Nsight Compute CSV without dram__bytes_read.sum or smsp__inst_executed.sum: \
                    take it with --metrics dram__bytes_read.sum,dram__bytes_write.sum,smsp__inst_executed.sum"
            .into());
    }
    let mut out = Vec::new();
    for (i, row) in rd.records().enumerate() {
        let row = row.map_err(|e| format!("Nsight Compute CSV, row {}: {e}", i + 2))?;
        let num = |c: Option<usize>| -> Option<f64> {
            let s = row.get(c?)?.replace(',', "");
            s.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0)
        };
        let name = row.get(name_col).unwrap_or("").to_string();
        // The units row: no numbers where numbers belong.
        if i == 0 && num(read).is_none() && num(inst).is_none() {
            continue;
        }
        let dram = match (num(read), num(write)) {
            (Some(r), Some(w)) => Some(r + w),
            (Some(r), None) => Some(r),
            _ => None,
        };
        let dram_write_share = match (num(read), num(write)) {
            (Some(r), Some(w)) if r + w > 0.0 => Some(w / (r + w)),
            _ => None,
        };
        out.push(NcuKernel {
            name,
            dram_bytes: dram,
            dram_write_share,
            instructions: num(inst),
            grid: num(grid).map(|x| x as u64),
            block: num(block).map(|x| x as u64),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_after_units() {
        let t = "==PROF== Connected\n\"ID\",\"Kernel Name\",\"dram__bytes_read.sum\",\"dram__bytes_write.sum\",\"smsp__inst_executed.sum\"\n\"\",\"\",\"byte\",\"byte\",\"inst\"\n\"0\",\"gemv\",\"1,024\",\"512\",\"3,000\"\n";
        let k = parse(t).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].name, "gemv");
        assert_eq!(k[0].dram_bytes, Some(1536.0));
        assert_eq!(k[0].instructions, Some(3000.0));
    }

    #[test]
    fn not_a_csv_is_an_error() {
        assert!(parse("").is_err());
        assert!(parse("\"a\",\"b\"\n1,2\n").is_err());
    }
}
